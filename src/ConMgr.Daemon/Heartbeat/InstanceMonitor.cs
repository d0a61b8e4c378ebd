// InstanceMonitor.cs: conmgr's heartbeat link to one instance's watchdog: connect, keep, lose, reconnect.
using System.Net;
using System.Net.Sockets;
using ConMgr.Configuration;
using ConMgr.Daemon.Instances;
using ConMgr.Heartbeat;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Daemon.Heartbeat;

/// <summary>
/// One per configured instance. Each attempt, TCP connect plus Hello/Welcome, is bounded by
/// <c>heartbeat_connect_timeout</c>; after a failed attempt or a lost link the next one starts
/// <c>heartbeat_connect_interval</c> later. While up, attributes pushed by the watchdog go
/// straight into the <see cref="InstanceTable"/>.
/// </summary>
public sealed class InstanceMonitor(int index, InstanceTable table, ConMgrSettings settings, ServerLog log, TimeProvider time)
{
    private HeartbeatLink? _link;

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
                log.Error($"heartbeat to {Name}: unexpected error: {ex}");
                table.SetDown(index, $"internal error: {ex.Message}");
                _link = null;
            }

            await DelayAsync(settings.HeartbeatConnectInterval, stop);
        }

        table.SetDown(index, "conmgr shutting down");
    }

    /// <summary>One connect attempt and, if it succeeds, the life of the link; returns the new failure count.</summary>
    private async Task<int> AttemptAsync(int failures, CancellationToken stop)
    {
        table.SetConnecting(index);
        var (link, pending, error) = await ConnectAsync(stop);
        if (link is null)
        {
            if (!stop.IsCancellationRequested)
            {
                // The first failure is news; the hundredth is not.
                log.Write(failures == 0 ? MessageLevel.Log : MessageLevel.Debug, $"could not establish heartbeat to {Name}: {error}");
                table.SetDown(index, error!);
            }

            return failures + 1;
        }

        await RunLinkAsync(link, pending, stop);
        return 0;
    }

    /// <summary>Ends the link in an orderly way (conmgr shutdown): the watchdog gets a Goodbye.</summary>
    public void SayGoodbye(string reason)
    {
        if (_link is { } link)
        {
            // End first: the watchdog closes as soon as it reads the Goodbye, and that close must
            // not become the recorded reason.
            link.End(reason);
            link.Send(new GoodbyeFrame(reason));
        }
    }

    private async Task RunLinkAsync(HeartbeatLink link, List<HeartbeatFrame> pending, CancellationToken stop)
    {
        using (link)
        {
            _link = link;
            var first = pending.OfType<AttributesFrame>().LastOrDefault()?.Attributes ?? InstanceAttributes.Unavailable;
            table.SetUp(index, first);
            log.Log($"heartbeat to {Name} established: {Describe(first)}");
            using var rttTimer = time.CreateTimer(_ => table.SetRtt(index, link.LastRtt), null, settings.HeartbeatInterval, settings.HeartbeatInterval);
            var reason = await link.RunAsync(frame => OnFrame(frame, link), pending.Where(f => f is not AttributesFrame), stop);
            _link = null;
            table.SetDown(index, reason);
            log.Log($"heartbeat to {Name} lost: {reason}");
        }
    }

    private void OnFrame(HeartbeatFrame frame, HeartbeatLink link)
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
            case RefusalFrame refusal:
                link.End($"refused by the watchdog: {refusal.Reason}");
                break;
            default:
                link.End($"protocol violation: unexpected {frame.Type} frame");
                break;
        }
    }

    private async Task<(HeartbeatLink? Link, List<HeartbeatFrame> Pending, string? Error)> ConnectAsync(CancellationToken stop)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(stop);
        attempt.CancelAfter(settings.HeartbeatConnectTimeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        HeartbeatChannel? channel = null;
        try
        {
            var addresses = Instance.IsNumeric ? [IPAddress.Parse(Instance.Address)] : await Dns.GetHostAddressesAsync(Instance.Address, attempt.Token);
            await socket.ConnectAsync(addresses, Instance.WatchdogPort, attempt.Token);
            channel = new HeartbeatChannel(socket);
            var frames = await HeartbeatHandshake.ClientAsync(channel, settings.HeartbeatInterval, settings.HeartbeatTimeout, attempt.Token);
            if (frames is null)
            {
                return Fail("connection closed by the watchdog during the handshake");
            }

            return frames[0] switch
            {
                WelcomeFrame => (new HeartbeatLink(channel, settings.HeartbeatInterval, settings.HeartbeatTimeout, time), frames.Skip(1).ToList(), null),
                RefusalFrame refusal => Fail($"refused by the watchdog: {refusal.Reason}"),
                var other => Fail($"protocol violation: expected a welcome frame, got {other.Type}"),
            };
        }
        catch (OperationCanceledException) when (!stop.IsCancellationRequested)
        {
            return Fail($"timeout after {HeartbeatLink.Format(settings.HeartbeatConnectTimeout)} (heartbeat_connect_timeout)");
        }
        catch (Exception ex) when (ex is SocketException or HeartbeatProtocolException or OperationCanceledException)
        {
            return Fail(ex.Message);
        }

        (HeartbeatLink?, List<HeartbeatFrame>, string?) Fail(string error)
        {
            if (channel is null)
            {
                socket.Dispose();
            }
            else
            {
                channel.Dispose();
            }

            return (null, [], error);
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

    private static string Describe(InstanceAttributes a) =>
        !a.Available ? "instance unavailable" : $"{a.Role}{(a.DefaultTransactionReadOnly ? " (read-only)" : string.Empty)}, timeline {a.Timeline}";
}
