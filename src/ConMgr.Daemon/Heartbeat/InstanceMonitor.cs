// InstanceMonitor.cs: conmgr's heartbeat link to one instance's watchdog: connect, keep, lose, reconnect.
using System.Net;
using System.Net.Sockets;
using ConMgr.Configuration;
using ConMgr.Daemon.Diagnostics;
using ConMgr.Daemon.Instances;
using ConMgr.Heartbeat;
using ConMgr.Heartbeat.Reactor;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Daemon.Heartbeat;

/// <summary>
/// One per configured instance. Each attempt, TCP connect plus Hello/Welcome, is bounded by
/// <c>heartbeat_connect_timeout</c>; after a failed attempt or a lost link the next one starts
/// <c>heartbeat_connect_interval</c> later. While up, attributes pushed by the watchdog go
/// straight into the <see cref="InstanceTable"/>.
/// <para>
/// A link that ends with a TCP close and no Goodbye means the watchdog's process went away
/// while its host answered (killed, crashed, restarted): the instance is kept, marked
/// interrupted, until <c>heartbeat_timeout</c> after the last frame received. If a watchdog
/// answers for the same instance (same system identifier, timeline and role) within that time,
/// nothing happened as far as clients are concerned; otherwise the instance is lost, exactly
/// as if the heartbeat had timed out (docs/protocol.md, "Watchdog restarts").
/// </para>
/// </summary>
/// <param name="reactor">Where the established link runs: conmgr's one heartbeat thread, which beats, receives and judges every link (connect and handshake run here, on the thread pool).</param>
public sealed class InstanceMonitor(int index, InstanceTable table, ConMgrSettings settings, Tls.TlsConfiguration tls, long conmgrId, ServerLog log, TimeProvider time, HeartbeatReactor reactor)
{
    /// <summary>
    /// Retry pace while an interrupted link waits for its watchdog: a refused connect to a host
    /// that answers costs nothing, and a restarted watchdog should be found at once.
    /// </summary>
    public static readonly TimeSpan InterruptedRetry = TimeSpan.FromMilliseconds(50);

    private readonly PendingLookups _lookups = new();
    private MonitoredLink? _link;
    private TaskCompletionSource _linkUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private HeartbeatReactor Reactor => reactor;

    private InstanceSettings Instance => table[index].Settings;

    private string Name => $"instance {Instance.Number} ({Instance.Address}:{Instance.WatchdogPort})";

    public async Task RunAsync(CancellationToken stop)
    {
        var failures = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                failures = await AttemptAsync(failures, stop);
            }
            catch (Exception ex) when (!stop.IsCancellationRequested)
            {
                // A bug must not end monitoring of this instance for good: say so loudly, then carry on.
                log.Error($"BUG: heartbeat to {Name}: unexpected error: {ex}");
                table.SetDown(index, $"internal error: {ex.Message}");
                _link = null;
            }

            await DelayAsync(settings.HeartbeatConnectInterval, stop);
        }

        table.SetDown(index, "conmgr shutting down");
    }

    /// <summary>Ends the link in an orderly way (conmgr shutdown): the watchdog gets a Goodbye. Completes when it is sent.</summary>
    public Task SayGoodbyeAsync(string reason) =>
        _link is { } link ? reactor.Stop(link, reason, goodbye: true) : Task.CompletedTask;

    /// <summary>
    /// Asks this instance's watchdog for <paramref name="role"/>'s secret and membership of
    /// <paramref name="groups"/> (preauth). While the link is down (a watchdog restarting), waits
    /// for it within <paramref name="timeout"/>; the answer too must come within it.
    /// </summary>
    /// <exception cref="AuthLookupException">No answer: no link, a watchdog older than protocol 1.4, the link lost, or the timeout.</exception>
    public async Task<AuthLookupAnswerFrame> LookupAsync(string role, IReadOnlyList<string> groups, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var link = _link;
        if (link is null)
        {
            try
            {
                await Volatile.Read(ref _linkUp).Task.WaitAsync(timeout, time, cancellationToken);
            }
            catch (TimeoutException)
            {
                throw new AuthLookupException($"the heartbeat to {Name} is not established: {table[index].LastError ?? "connecting"}");
            }

            link = _link ?? throw new AuthLookupException($"the heartbeat to {Name} was lost");
        }

        if (link.WatchdogMinor < HeartbeatCodec.LookupMinorVersion)
        {
            throw new AuthLookupException($"the watchdog of {Name} does not support authentication lookups (it speaks protocol {HeartbeatCodec.MajorVersion}.{link.WatchdogMinor}; lookups need {HeartbeatCodec.MajorVersion}.{HeartbeatCodec.LookupMinorVersion})");
        }

        var (id, answer) = _lookups.Start();
        reactor.Post(() =>
        {
            if (link.State == global::ConMgr.Heartbeat.Reactor.LinkState.Up)
            {
                reactor.Send(link, new AuthLookupFrame(id, role, groups));
            }
            else
            {
                _lookups.Fail(id, $"the heartbeat to {Name} was lost");
            }
        });
        try
        {
            var left = timeout - time.GetElapsedTime(started);
            return await answer.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, time, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new AuthLookupException($"the watchdog of {Name} did not answer an authentication lookup within preauth_lookup_timeout ({Durations.Format(timeout)})");
        }
        finally
        {
            _lookups.Forget(id);
        }
    }

    /// <summary>One connect attempt and, if it succeeds, the life of the link (through any interruptions); returns the new failure count.</summary>
    private async Task<int> AttemptAsync(int failures, CancellationToken stop)
    {
        table.SetConnecting(index);
        var connected = await ConnectAsync(settings.HeartbeatConnectTimeout, stop);
        if (connected.Link is null)
        {
            if (!stop.IsCancellationRequested)
            {
                // The first failure is news; the hundredth is not.
                log.Write(failures == 0 ? MessageLevel.Log : MessageLevel.Debug, $"could not establish heartbeat to {Name}: {connected.Error}");
                table.SetDown(index, connected.Error!);
            }

            return failures + 1;
        }

        SetUp(Attributes(connected.Pending), sameAsBefore: false);
        while (true)
        {
            var ended = await RunLinkAsync(connected.Link, connected.Pending, connected.WatchdogMinor, stop);
            if (ended.Kind != LinkEnd.Closed || stop.IsCancellationRequested)
            {
                SetLost(ended.Reason);
                return 0;
            }

            // The watchdog's process is gone, its host answered: keep the instance while reconnecting.
            var known = table[index].Attributes;
            var remaining = settings.HeartbeatTimeout - ended.Silence;
            table.SetInterrupted(index, ended.Reason);
            log.Log($"heartbeat to {Name} interrupted: {ended.Reason} without a goodbye; keeping the instance for up to {Durations.Format(Positive(remaining))} while reconnecting");
            connected = await ReconnectWithinAsync(remaining, stop);
            if (connected.Link is null)
            {
                SetLost($"{ended.Reason}, and no watchdog answered within heartbeat_timeout ({Durations.Format(settings.HeartbeatTimeout)}): {connected.Error}");
                return 1;
            }

            var back = Attributes(connected.Pending);
            if (!SameInstance(known, back))
            {
                // Another instance answers now (restarted, promoted, re-created): the old sessions are not its.
                SetLost($"the watchdog came back for a different instance state ({Describe(known)} before, {Describe(back)} now)");
                SetUp(back, sameAsBefore: false);
            }
            else
            {
                SetUp(back, sameAsBefore: true);
            }
        }
    }

    /// <summary>The instance is lost: down in the table (its clients are told) and a LOG line.</summary>
    private void SetLost(string reason)
    {
        table.SetDown(index, reason);
        ConMgrMetrics.RecordLoss(Instance.Number);
        log.Log($"heartbeat to {Name} lost: {reason}");
    }

    /// <summary>The link is up with these attributes; <paramref name="sameAsBefore"/>: an interrupted link came back to the same instance.</summary>
    private void SetUp(InstanceAttributes attributes, bool sameAsBefore)
    {
        table.SetUp(index, attributes);
        log.Log(sameAsBefore
            ? $"heartbeat to {Name} re-established: the same instance ({Describe(attributes)}); its sessions are kept"
            : $"heartbeat to {Name} established: {Describe(attributes)}");
    }

    /// <summary>Retries at <see cref="InterruptedRetry"/> until a handshake completes or <paramref name="window"/> has passed.</summary>
    private async Task<Connected> ReconnectWithinAsync(TimeSpan window, CancellationToken stop)
    {
        var started = time.GetTimestamp();
        var last = new Connected(null, [], "heartbeat_timeout already passed");
        while (!stop.IsCancellationRequested && window - time.GetElapsedTime(started) is var left && left > TimeSpan.Zero)
        {
            last = await ConnectAsync(left < settings.HeartbeatConnectTimeout ? left : settings.HeartbeatConnectTimeout, stop);
            if (last.Link is not null)
            {
                return last;
            }

            await DelayAsync(InterruptedRetry, stop);
        }

        return last;
    }

    /// <summary>Hands the established link to the reactor and waits until it ends; how it ended decides between interrupted and lost.</summary>
    private async Task<(LinkEnd Kind, string Reason, TimeSpan Silence)> RunLinkAsync(HeartbeatChannel channel, List<HeartbeatFrame> pending, short watchdogMinor, CancellationToken stop)
    {
        var remote = channel.Remote ?? new IPEndPoint(IPAddress.None, 0);
        var (fd, leftover) = channel.Detach();
        var number = Instance.Number;
        var link = new MonitoredLink(fd, remote, this) { RttMeasured = rtt => ConMgrMetrics.RecordRtt(number, rtt), WatchdogMinor = watchdogMinor };
        foreach (var frame in pending)
        {
            // Frames that came with the Welcome: the first attributes (already applied) and the
            // first beat (the reactor's own receive takes the next) need nothing more.
            switch (frame)
            {
                case AttributesFrame or BeatFrame:
                    break;
                case GoodbyeFrame goodbye:
                    Hosting.Posix.Epoll.Close(fd);
                    return (LinkEnd.Goodbye, $"peer closed the link: {goodbye.Reason}", TimeSpan.Zero);
                default:
                    OnFrame(frame, link);
                    break;
            }
        }

        if (link.Refused is { } refused)
        {
            Hosting.Posix.Epoll.Close(fd);
            return (LinkEnd.Failed, refused, TimeSpan.Zero);
        }

        _link = link;
        Volatile.Read(ref _linkUp).TrySetResult();
        using var rttTimer = time.CreateTimer(_ => table.SetRtt(index, link.LastRtt), null, settings.HeartbeatInterval, settings.HeartbeatInterval);
        using var stopping = stop.Register(() => reactor.Stop(link, "conmgr shutting down", goodbye: false));
        try
        {
            reactor.AddEstablished(link, settings.HeartbeatInterval, settings.HeartbeatTimeout, leftover);
            var verdict = await link.Ended;
            if (verdict.Kind == LinkEnd.Timeout)
            {
                log.Log($"heartbeat to {Name}: {verdict.Reason} ({verdict.Evidence})");
            }

            // Time conmgr itself was paused is not the watchdog's silence (the interrupted window below).
            return (verdict.Kind, verdict.Reason, verdict.Silence - verdict.Excused);
        }
        finally
        {
            _link = null;
            Volatile.Write(ref _linkUp, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            _lookups.FailAll($"the heartbeat to {Name} was lost");
        }
    }

    /// <summary>Called on the reactor thread: attributes go straight into the table (a lock and a channel write, nothing that blocks).</summary>
    private void OnFrame(HeartbeatFrame frame, MonitoredLink link)
    {
        switch (frame)
        {
            case AttributesFrame { Attributes: var attributes }:
                var before = table[index].Attributes;
                table.SetAttributes(index, attributes);
                if (attributes.RoleDiffers(before))
                {
                    log.Log($"{Name} is now {Describe(attributes)}");
                }

                break;
            case AuthLookupAnswerFrame answer:
                _lookups.Complete(answer);
                break;
            case RefusalFrame refusal:
                link.Refused = $"refused by the watchdog: {refusal.Reason}";
                break;
            default:
                link.Refused = $"protocol violation: unexpected {frame.Type} frame";
                break;
        }
    }

    private async Task<Connected> ConnectAsync(TimeSpan timeout, CancellationToken stop)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stop);
        attempt.CancelAfter(timeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        HeartbeatChannel? channel = null;
        try
        {
            var addresses = Instance.IsNumeric ? [IPAddress.Parse(Instance.Address)] : await Dns.GetHostAddressesAsync(Instance.Address, attempt.Token);
            await socket.ConnectAsync(addresses, Instance.WatchdogPort, attempt.Token);
            var auth = tls.Heartbeat;
            var link = socket;
            if (auth.Tls is { } client)
            {
                // TLS first, the watchdog's certificate verified (verify-full); the link then runs over a tunnel.
                var (ssl, error) = await client.ConnectAsync(new NetworkStream(socket, ownsSocket: false), Instance, attempt.Token);
                if (ssl is null)
                {
                    return Fail($"TLS handshake with the watchdog failed: {error}");
                }

                link = Hosting.Tls.TlsTunnel.OpenSocket(ssl, socket);
            }

            channel = new HeartbeatChannel(link);
            var frames = await HeartbeatHandshake.ClientAsync(channel, settings.HeartbeatInterval, settings.HeartbeatTimeout, conmgrId, attempt.Token, auth.Secret, watchdogVerified: auth.Tls is not null);
            if (frames is null)
            {
                return Fail("connection closed by the watchdog during the handshake");
            }

            return frames[0] switch
            {
                WelcomeFrame welcome => new Connected(channel, [.. frames.Skip(1)], null, welcome.MinorVersion),
                RefusalFrame refusal => Fail($"refused by the watchdog: {refusal.Reason}"),
                var other => Fail($"protocol violation: expected a welcome frame, got {other.Type}"),
            };
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return Fail($"timeout after {Durations.Format(timeout)} (heartbeat_connect_timeout)");
        }
        catch (Exception ex) when (ex is SocketException or HeartbeatProtocolException or OperationCanceledException or IOException)
        {
            return Fail(ex.Message);
        }

        Connected Fail(string error)
        {
            if (channel is null)
            {
                socket.Dispose();
            }
            else
            {
                channel.Dispose();
            }

            return new Connected(null, [], error);
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, time, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static InstanceAttributes Attributes(List<HeartbeatFrame> pending) =>
        pending.OfType<AttributesFrame>().LastOrDefault()?.Attributes ?? InstanceAttributes.Unavailable;

    /// <summary>The instance a returning watchdog speaks for is the one clients are connected to.</summary>
    private static bool SameInstance(InstanceAttributes before, InstanceAttributes after) =>
        !before.Available || (after.Available && !after.RoleDiffers(before));

    private static TimeSpan Positive(TimeSpan time) => time > TimeSpan.Zero ? time : TimeSpan.Zero;

    private static string Describe(InstanceAttributes a) =>
        !a.Available ? "instance unavailable" : $"{a.Role}{(a.DefaultTransactionReadOnly ? " (read-only)" : string.Empty)}, timeline {a.Timeline}";

    private readonly record struct Connected(HeartbeatChannel? Link, List<HeartbeatFrame> Pending, string? Error, short WatchdogMinor = 0);

    /// <summary>The established link in the reactor; its end is awaited by <see cref="RunLinkAsync"/>.</summary>
    private sealed class MonitoredLink(int fd, IPEndPoint remote, InstanceMonitor monitor) : ReactorLink(fd, remote, new Events(monitor))
    {
        private readonly TaskCompletionSource<LinkVerdict> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<LinkVerdict> Ended => _ended.Task;

        /// <summary>The minor protocol version of the watchdog's Welcome (lookups need <see cref="HeartbeatCodec.LookupMinorVersion"/>).</summary>
        public short WatchdogMinor { get; init; }

        /// <summary>Set on the reactor thread by a frame that ends the link (a refusal, a frame out of place).</summary>
        public string? Refused { get; set; }

        private sealed class Events(InstanceMonitor monitor) : ILinkHandler
        {
            public void OnHandshakeFrame(ReactorLink link, HeartbeatFrame frame)
            {
                // The handshake was done before the reactor took the link over.
            }

            public void OnHandshakeExpired(ReactorLink link)
            {
            }

            public void OnHandshakeViolation(ReactorLink link, string violation)
            {
            }

            public void OnFrame(ReactorLink link, HeartbeatFrame frame)
            {
                var monitored = (MonitoredLink)link;
                monitor.OnFrame(frame, monitored);
                if (monitored.Refused is { } reason)
                {
                    monitor.Reactor.End(link, LinkVerdict.Plain(LinkEnd.Failed, reason, TimeSpan.Zero), sayGoodbye: true);
                }
            }

            public void OnClosed(ReactorLink link, LinkVerdict verdict, bool wasUp) => ((MonitoredLink)link)._ended.TrySetResult(verdict);
        }
    }
}
