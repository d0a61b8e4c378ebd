// HostileWatchdogTests.cs: whatever listens on a configured watchdog port, crafted or random frames never bring conmgr down.
using System.Globalization;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Faults;

public sealed class HostileWatchdogTests
{
    private const int Iterations = 300;

    private enum Phase
    {
        CloseAtOnce,
        Crafted,
        Random,
    }

    [Fact]
    public async Task A_watchdog_port_answering_crafted_or_random_frames_never_brings_conmgr_down()
    {
        var phase = (int)Phase.CloseAtOnce;
        var random = new Random(10);
        var fuzzed = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        byte[] seed =
        [
            .. RawFrames.Welcome(),
            .. RawFrames.PrimaryAttributes(1, 42),
            .. RawFrames.Beat(1),
        ];
        await using var fake = ScriptedPeer.Start(async socket =>
        {
            switch ((Phase)Volatile.Read(ref phase))
            {
                case Phase.Crafted:
                    // The five bytes that once overflowed the length check: a stack overflow killed conmgr.
                    await socket.SendAsync(new byte[] { (byte)'W', 0x7F, 0xFF, 0xFF, 0xFF });
                    await ScriptedPeer.WaitForCloseAsync(socket);
                    break;
                case Phase.Random:
                    byte[] input;
                    lock (random)
                    {
                        input = Fuzz.Mutate(random, seed, 2 * RawFrames.MaxFrameLength);
                    }

                    await socket.SendAsync(input);
                    if (Interlocked.Increment(ref fuzzed) == Iterations)
                    {
                        done.TrySetResult();
                    }

                    break;
            }
        });
        await using var node = await ConMgrNode.CreateAsync($"""
            heartbeat_interval = 200ms
            heartbeat_timeout = 1s
            heartbeat_connect_interval = 10ms
            heartbeat_connect_timeout = 500ms
            log_min_messages = log
            backend_host1 = 127.0.0.1
            backend_port1 = 1
            watchdog_port1 = {fake.Port.ToString(CultureInfo.InvariantCulture)}

            """);
        await node.StartAsync("-W");
        await node.WaitReadyAsync();
        var pid = node.Pid!.Value;
        await node.WaitInstanceAsync(1, i => i.LastError == "connection closed by the watchdog during the handshake", Deadline, "attempts against the fake watchdog");
        var baseline = OpenFiles.Count(pid);

        Volatile.Write(ref phase, (int)Phase.Crafted);
        await node.WaitInstanceAsync(1, i => i.LastError == "invalid frame length 2147483647", Deadline, "the crafted header to be refused");
        Volatile.Write(ref phase, (int)Phase.Random);
        await done.Task.WaitAsync(Deadline);
        Volatile.Write(ref phase, (int)Phase.CloseAtOnce);

        Assert.Equal(pid, node.Pid);
        await OpenFiles.WaitBackToAsync(pid, baseline, Deadline, "conmgr");
        Assert.Equal("ready", (await node.StatusAsync()).State);
        Assert.DoesNotContain("BUG", node.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", node.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_escape_sequence_in_a_watchdog_s_goodbye_is_printed_escaped_in_cm_ctl_status_and_the_log()
    {
        const string Reason = "bye\u001b[2J\u001b]0;owned\u0007\n2026-12-07 00:00:00.000 UTC [1] LOG:  forged";
        await using var fake = ScriptedPeer.Start(async socket =>
        {
            await socket.SendAsync((byte[])[.. RawFrames.Welcome(), .. RawFrames.PrimaryAttributes(1, 42), .. RawFrames.Goodbye(Reason)]);
            await ScriptedPeer.WaitForCloseAsync(socket);
        });
        await using var node = await ConMgrNode.CreateAsync($"""
            heartbeat_interval = 200ms
            heartbeat_timeout = 1s
            heartbeat_connect_interval = 1s
            log_min_messages = log
            backend_hostaddr0 = '127.0.0.1'
            backend_port0 = 5999
            watchdog_port0 = {fake.Port}

            """);
        await node.StartAsync();
        await node.WaitInstanceAsync(0, i => i.LastError is not null && i.LastError.Contains("bye", StringComparison.Ordinal), Deadline, "the goodbye's reason in last_error");

        const string Shown = "bye\\x1B[2J\\x1B]0;owned\\x07\\x0A2026-12-07 00:00:00.000 UTC [1] LOG:  forged";
        var status = await node.CtlAsync("status");
        Assert.Contains(Shown, status.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', status.StandardOutput);
        Assert.Contains(Shown, node.Log, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', node.Log);
        Assert.DoesNotContain("\n2026-12-07 00:00:00.000 UTC [1] LOG:  forged", node.Log, StringComparison.Ordinal);
    }
}
