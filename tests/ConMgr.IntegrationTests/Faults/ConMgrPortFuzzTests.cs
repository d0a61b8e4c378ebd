// ConMgrPortFuzzTests.cs: crafted and random startup packets on conmgr's port, and random commands on its control socket.
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using ConMgr.Hosting.Control;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Faults;

public sealed class ConMgrPortFuzzTests
{
    private const int Iterations = 300;

    [Fact]
    public async Task Every_hostile_length_word_gets_an_answer_or_a_clean_close()
    {
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + "backend_host1 = 127.0.0.1\nbackend_port1 = 1\nwatchdog_port1 = 1\n");
        await node.StartAsync("-W");
        await node.WaitReadyAsync();
        foreach (var length in Fuzz.HostileLengths)
        {
            var header = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(header, length);
            BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 196608);

            using var client = await PgWire.ConnectAsync("127.0.0.1", node.Port);
            await client.SendAsync(header);
            client.Socket.Shutdown(SocketShutdown.Send);
            var answer = await client.ReadMessageAsync(Deadline);

            // A valid length waits for a body that never comes (the client ended its side): a plain close,
            // or for exactly 8 bytes an answer to that bare 3.0 startup. An invalid one is refused from the
            // length word alone, in PostgreSQL's words.
            if (length is >= 8 and <= 10_000)
            {
                Assert.True(answer is null || answer.Type == 'E', $"length {length}: {answer}");
            }
            else
            {
                Assert.True(answer is { Type: 'E' }, $"length {length}: no ErrorResponse");
                Assert.Equal("invalid length of startup packet", answer!.Fields['M']);
            }
        }

        Assert.NotNull(node.Pid);
    }

    [Fact]
    public async Task Control_commands_at_the_length_limit_are_answered_or_refused_whole()
    {
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + "backend_host1 = 127.0.0.1\nbackend_port1 = 1\nwatchdog_port1 = 1\n");
        await node.StartAsync("-W");
        await node.WaitReadyAsync();

        // The limit is 256 bytes, newline included: 255 characters fit, 256 do not.
        Assert.Equal($"error: unknown command \"{new string('x', 255)}\"\n", await ControlClient.SendAsync(node.Paths, new string('x', 255), Deadline));
        Assert.Equal("error: command too long\n", await ControlClient.SendAsync(node.Paths, new string('x', 256), Deadline));
        Assert.Equal("error: unknown command \"\"\n", await ControlClient.SendAsync(node.Paths, string.Empty, Deadline));
        Assert.Equal("ready", (await node.StatusAsync()).State);
    }

    [Fact]
    public async Task Random_startup_packets_and_control_commands_leave_conmgr_running_with_no_leak()
    {
        await using var node = await ConMgrNode.CreateAsync(ConmgrLines + "backend_host1 = 127.0.0.1\nbackend_port1 = 1\nwatchdog_port1 = 1\n");
        await node.StartAsync("-W");
        await node.WaitReadyAsync();
        var pid = node.Pid!.Value;
        var baseline = OpenFiles.Count(pid);
        var random = new Random(9);
        byte[][] seeds =
        [
            PgWire.StartupMessage(("user", "app"), ("database", "app"), ("_pq_.conmgr_resolve", "1.0"), ("_pq_.conmgr_target_session_attrs", "read-write")),
            PgWire.StartupMessage(("user", "app")),
            PgWire.SslRequest,
            [0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 1, 0, 0, 0, 2],
        ];
        for (var i = 0; i < Iterations; i++)
        {
            using var client = await PgWire.ConnectAsync("127.0.0.1", node.Port);
            var input = Fuzz.Mutate(random, seeds[random.Next(seeds.Length)], 512);
            Assert.True(await client.SendAndDrainAsync(input, Deadline), $"input {i} ({Convert.ToHexString(input)}) was neither answered nor closed");
        }

        for (var i = 0; i < Iterations / 3; i++)
        {
            var command = new byte[random.Next(2 * 256)];
            random.NextBytes(command);
            Assert.True(await PgWire.SendToControlSocketAsync(node.Paths.ControlSocket, command, Deadline), $"control command {i} was neither answered nor closed");
        }

        Assert.Equal(pid, node.Pid);
        await OpenFiles.WaitBackToAsync(pid, baseline, Deadline, "conmgr");
        Assert.Equal("ready", (await node.StatusAsync()).State);
        Assert.Equal("error: unknown command \"x\"\n", await ControlClient.SendAsync(node.Paths, "x", Deadline));
    }
}
