// LocalPauseTests.cs: a judge that was itself not run (SIGSTOP) finds the beats queued for it and gives no false loss; a real cut is still found.
using System.Net;
using System.Net.Sockets;
using ConMgr.Heartbeat;
using ConMgr.Hosting.Posix;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Testing;
using Npgsql;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

/// <summary>
/// The stall is real: the process is stopped with SIGSTOP for 1.5 × heartbeat_timeout while its
/// peer keeps beating (or is stopped too), then continued. Where a test needs a peer that keeps
/// beating through the stall without judging it, that peer is scripted in this process (a real
/// conmgr or watchdog would, rightly, declare the stopped side lost).
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class LocalPauseTests
{
    private const string SessionsFromLoopback = "select count(*) from pg_stat_activity where client_addr = '127.0.0.1' and backend_type = 'client backend'";
    private static readonly TimeSpan Stall = HeartbeatTimeout * 1.5;

    [Fact]
    public async Task A_watchdog_stopped_past_a_peers_deadline_reads_the_beats_queued_meanwhile_and_keeps_the_link_and_its_sessions()
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs, ExtraSettings = [PgCluster.Unauthenticated] });
        await using var session = new NpgsqlConnection(cluster.Primary.TcpConnectionString());
        await session.OpenAsync();
        await using var peer = await BeatingPeer.ConnectAsync(cluster.Primary.WatchdogPort);
        await Poll.UntilAsync(() => peer.BeatsReceived >= 3, Deadline, "the watchdog's beats");

        var watchdog = cluster.Primary.WatchdogPid ?? throw new InvalidOperationException("no watchdog");
        Libc.Kill(watchdog, Libc.SIGSTOP);
        await Task.Delay(Stall); // the fault itself: the watchdog is not run while the peer's beats queue up
        var before = peer.BeatsReceived;
        Libc.Kill(watchdog, Libc.SIGCONT);

        await Poll.UntilAsync(() => peer.BeatsReceived >= before + 5 || peer.Ended is not null, Deadline, "the watchdog's beats after the stall");
        Assert.Null(peer.Ended);
        var log = File.ReadAllText(cluster.Primary.LogFile);
        Assert.DoesNotContain("lost:", log, StringComparison.Ordinal);
        Assert.Contains("process pause detected: the watchdog's heartbeat thread woke", log, StringComparison.Ordinal);
        await using var command = new NpgsqlCommand("select 1", session);
        Assert.Equal(1, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_conmgr_stopped_past_the_deadline_reads_the_beat_pending_for_it_and_keeps_the_instance()
    {
        await using var watchdog = ScriptedWatchdog.Start();
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + $"backend_hostaddr0 = '127.0.0.1'\nbackend_port0 = {FreePort.Next()}\nwatchdog_port0 = {watchdog.Port}\n");
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link");
        await Poll.UntilAsync(() => watchdog.BeatsReceived >= 3, Deadline, "conmgr's beats");

        Libc.Kill(node.Pid!.Value, Libc.SIGSTOP);
        await Task.Delay(Stall); // the fault itself: conmgr is not run while the watchdog's beats queue up
        var before = watchdog.BeatsReceived;
        Libc.Kill(node.Pid!.Value, Libc.SIGCONT);

        await Poll.UntilAsync(() => watchdog.BeatsReceived >= before + 5 || watchdog.Ended is not null, Deadline, "conmgr's beats after the stall");
        Assert.Null(watchdog.Ended);
        Assert.Equal("up", (await node.StatusAsync()).Instances[0].Heartbeat);
        Assert.DoesNotContain("lost:", node.Log, StringComparison.Ordinal);
        Assert.Contains("process pause detected: the conmgr's heartbeat thread woke", node.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Conmgr_and_the_watchdog_both_stopped_and_continued_lose_nothing_and_terminate_no_session(bool watchdogFirst)
    {
        await using var cluster = await PgCluster.StartAsync(new PgClusterOptions { Standbys = 0, Watchdog = WatchdogMode.Launcher, CheckAttrIntervalMs = CheckAttrIntervalMs, ExtraSettings = [PgCluster.Unauthenticated] });
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the link");
        await using var session = new NpgsqlConnection(cluster.Primary.TcpConnectionString());
        await session.OpenAsync();
        await Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(SessionsFromLoopback) >= 1, Deadline, "the session from 127.0.0.1");

        var watchdog = cluster.Primary.WatchdogPid ?? throw new InvalidOperationException("no watchdog");
        var conmgr = node.Pid!.Value;
        var (first, second) = watchdogFirst ? (watchdog, conmgr) : (conmgr, watchdog);
        Libc.Kill(watchdog, Libc.SIGSTOP);
        Libc.Kill(conmgr, Libc.SIGSTOP);
        await Task.Delay(Stall); // the fault: both ends not run, as in a freeze of a machine that hosts both
        Libc.Kill(first, Libc.SIGCONT);
        await Task.Delay(Interval / 2); // the other end comes back a little later
        Libc.Kill(second, Libc.SIGCONT);

        // Both must have judged by now had they wanted to: a timeout after each one's return, and some.
        await Task.Delay(HeartbeatTimeout * 2);
        Assert.Equal("up", (await node.StatusAsync()).Instances[0].Heartbeat);
        Assert.DoesNotContain("lost:", node.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("lost:", File.ReadAllText(cluster.Primary.LogFile), StringComparison.Ordinal);
        await using var command = new NpgsqlCommand("select 1", session);
        Assert.Equal(1, await command.ExecuteScalarAsync());
    }

    /// <summary>What a scripted peer counts of the frames it receives: beats, and the Goodbye that ends the link.</summary>
    private static void Tally(HeartbeatFrame frame, ref int beats, Action<string> ended)
    {
        switch (frame)
        {
            case BeatFrame:
                Interlocked.Increment(ref beats);
                break;
            case GoodbyeFrame goodbye:
                ended($"goodbye: {goodbye.Reason}");
                break;
        }
    }

    /// <summary>A conmgr scripted in this process: handshake, then a beat every interval whatever happens, never judging.</summary>
    private sealed class BeatingPeer : IAsyncDisposable
    {
        private readonly HeartbeatChannel _channel;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _beating;
        private readonly Task _receiving;
        private int _beats;

        private BeatingPeer(HeartbeatChannel channel)
        {
            _channel = channel;
            _beating = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    _channel.TrySend(new BeatFrame(Environment.TickCount64 * 1000, 0, 0));
                    await Task.Delay(Interval, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                }
            });
            _receiving = Task.Run(async () =>
            {
                try
                {
                    while (await _channel.ReceiveAsync(OnFrame, _stop.Token))
                    {
                    }

                    Ended ??= "closed by the watchdog";
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or HeartbeatProtocolException or ObjectDisposedException)
                {
                    if (!_stop.IsCancellationRequested)
                    {
                        Ended ??= ex.Message;
                    }
                }
            });
        }

        public int BeatsReceived => Volatile.Read(ref _beats);

        /// <summary>Why the watchdog ended the link (a Goodbye or a close), or null while it lives.</summary>
        public string? Ended { get; private set; }

        public static async Task<BeatingPeer> ConnectAsync(int port)
        {
            Socket? socket = null;
            await Poll.UntilAsync(
                async () =>
                {
                    socket?.Dispose();
                    socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(IPAddress.Loopback, port);
                    return true;
                },
                Deadline,
                "the watchdog to listen");
            var channel = new HeartbeatChannel(socket!);
            using var timeout = new CancellationTokenSource(Deadline);
            var frames = await HeartbeatHandshake.ClientAsync(channel, Interval, HeartbeatTimeout, Random.Shared.NextInt64(1, long.MaxValue), timeout.Token);
            Assert.True(frames is [WelcomeFrame, ..], "the watchdog welcomed the scripted conmgr");
            return new BeatingPeer(channel);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _channel.Dispose();
            await Task.WhenAll(_beating, _receiving);
            _stop.Dispose();
        }

        private void OnFrame(HeartbeatFrame frame) => Tally(frame, ref _beats, reason => Ended ??= reason);
    }

    /// <summary>A watchdog scripted in this process: welcomes one conmgr as a primary, then beats every interval whatever happens, never judging.</summary>
    private sealed class ScriptedWatchdog : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;
        private int _beats;

        private ScriptedWatchdog(Socket listener)
        {
            _listener = listener;
            _serving = Task.Run(ServeAsync);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

        public int BeatsReceived => Volatile.Read(ref _beats);

        /// <summary>Why conmgr ended the link (a Goodbye or a close), or null while it lives.</summary>
        public string? Ended { get; private set; }

        public static ScriptedWatchdog Start()
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            listener.Listen(4);
            return new ScriptedWatchdog(listener);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Dispose();
            await _serving;
            _stop.Dispose();
        }

        private async Task ServeAsync()
        {
            try
            {
                using var socket = await _listener.AcceptAsync(_stop.Token);
                using var channel = new HeartbeatChannel(socket);
                var hello = new List<HeartbeatFrame>();
                while (hello.Count == 0 && await channel.ReceiveAsync(hello.Add, _stop.Token))
                {
                }

                channel.TrySend(new WelcomeFrame(HeartbeatCodec.MajorVersion, HeartbeatCodec.MinorVersion));
                channel.TrySend(new AttributesFrame(new InstanceAttributes(true, false, false, 1, 7, 1, -1, 150000, 1)));
                var beating = Task.Run(async () =>
                {
                    while (!_stop.IsCancellationRequested)
                    {
                        channel.TrySend(new BeatFrame(Environment.TickCount64 * 1000, 0, 0));
                        await Task.Delay(Interval, _stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                    }
                });
                while (await channel.ReceiveAsync(OnFrame, _stop.Token))
                {
                }

                Ended ??= "closed by conmgr";
                await beating;
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or HeartbeatProtocolException or ObjectDisposedException)
            {
                if (!_stop.IsCancellationRequested)
                {
                    Ended ??= ex.Message;
                }
            }
        }

        private void OnFrame(HeartbeatFrame frame) => Tally(frame, ref _beats, reason => Ended ??= reason);
    }
}
