// ResolveAnswerTests.cs: phase one against malformed and randomly mutated conmgr answers: always an outcome, never an exception.
using System.Net.Sockets;
using ConMgr.Client.Resolve;
using ConMgr.Testing;
using WireMessage = ConMgr.Client.Resolve.WireMessage;

namespace ConMgr.UnitTests.Client;

public sealed class ResolveAnswerTests
{
    private static readonly byte[] Ready = [(byte)'Z', 0, 0, 0, 5, (byte)'I'];

    private static byte[] Greeting => ScriptedPeer.ParameterStatus("conmgr_protocol", "1.0");

    public static TheoryData<string, byte[], string> Malformed => new()
    {
        { "no host", [.. Greeting, .. ScriptedPeer.ParameterStatus("conmgr_instance_port", "5432"), .. ScriptedPeer.ParameterStatus("conmgr_instance_number", "1"), .. Ready], "lacks conmgr_instance_host" },
        { "port not a number", [.. Greeting, .. ScriptedPeer.ParameterStatus("conmgr_instance_host", "127.0.0.1"), .. ScriptedPeer.ParameterStatus("conmgr_instance_port", "x"), .. ScriptedPeer.ParameterStatus("conmgr_instance_number", "1"), .. Ready], "invalid conmgr_instance_port" },
        { "port out of range", [.. Greeting, .. ScriptedPeer.ParameterStatus("conmgr_instance_host", "127.0.0.1"), .. ScriptedPeer.ParameterStatus("conmgr_instance_port", "70000"), .. ScriptedPeer.ParameterStatus("conmgr_instance_number", "1"), .. Ready], "invalid conmgr_instance_port" },
        { "port overflows int", [.. Greeting, .. ScriptedPeer.ParameterStatus("conmgr_instance_host", "127.0.0.1"), .. ScriptedPeer.ParameterStatus("conmgr_instance_port", "99999999999"), .. ScriptedPeer.ParameterStatus("conmgr_instance_number", "1"), .. Ready], "invalid conmgr_instance_port" },
        { "no number", [.. Greeting, .. ScriptedPeer.ParameterStatus("conmgr_instance_host", "127.0.0.1"), .. ScriptedPeer.ParameterStatus("conmgr_instance_port", "5432"), .. Ready], "invalid conmgr_instance_number" },
        { "ParameterStatus without NULs", [.. Greeting, (byte)'S', 0, 0, 0, 8, (byte)'a', (byte)'b', (byte)'c', (byte)'d', .. Ready], "malformed ParameterStatus" },
        { "ParameterStatus with one NUL", [.. Greeting, (byte)'S', 0, 0, 0, 6, (byte)'a', 0, .. Ready], "malformed ParameterStatus" },
        { "empty ParameterStatus", [.. Greeting, (byte)'S', 0, 0, 0, 4, .. Ready], "malformed ParameterStatus" },
        { "greeting without NULs", [(byte)'S', 0, 0, 0, 5, (byte)'a'], "unexpected answer 'S'" },
        { "negative length", [.. Greeting, (byte)'S', 0xFF, 0xFF, 0xFF, 0xFF], "invalid message length -1" },
        { "length int.MaxValue", [.. Greeting, (byte)'S', 0x7F, 0xFF, 0xFF, 0xFF], "invalid message length 2147483647" },
        { "length 3", [.. Greeting, (byte)'S', 0, 0, 0, 3], "invalid message length 3" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_answer_makes_the_host_unreachable_not_an_exception(string what, byte[] answer, string reason)
    {
        Assert.NotEmpty(what);
        await using var fake = ScriptedPeer.Start(async socket => await socket.SendAsync(answer));

        var outcome = await ResolveClient.ResolveAsync(new HostEntry("127.0.0.1", fake.Port), "app", "app", "any", TimeSpan.FromSeconds(5), CancellationToken.None);

        Assert.Contains(reason, Assert.IsType<ResolveOutcome.Unreachable>(outcome).Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(WireMessage.MaxLength - 1)]
    [InlineData(WireMessage.MaxLength)]
    [InlineData(WireMessage.MaxLength + 1)]
    public async Task Lengths_at_the_limit_of_a_message(int length)
    {
        // Up to the limit a message is read whole (and refused for its type); past it, refused from the header.
        byte[] header = [(byte)'N', (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length];
        await using var fake = ScriptedPeer.Start(async socket =>
        {
            await socket.SendAsync(Greeting);
            await socket.SendAsync(header);
            if (length <= WireMessage.MaxLength)
            {
                await socket.SendAsync(new byte[length - 4]);
            }
        });

        var outcome = await ResolveClient.ResolveAsync(new HostEntry("127.0.0.1", fake.Port), "app", "app", "any", TimeSpan.FromSeconds(5), CancellationToken.None);

        var reason = Assert.IsType<ResolveOutcome.Unreachable>(outcome).Reason;
        Assert.Contains(length <= WireMessage.MaxLength ? "unexpected message 'N'" : $"invalid message length {length}", reason, StringComparison.Ordinal);
    }

    /// <summary>Bounded fuzz: mutated answers give an outcome within the timeout, never an exception and never a bad port.</summary>
    [Fact]
    public async Task Random_answers_never_escape_as_exceptions()
    {
        var random = new Random(6);
        var valid = ScriptedPeer.ResolveAnswer("127.0.0.1", 5432, 1, "primary", 1);
        var answers = new Queue<byte[]>();
        await using var fake = ScriptedPeer.Start(async socket =>
        {
            byte[] answer;
            lock (answers)
            {
                answer = answers.Dequeue();
            }

            try
            {
                await socket.SendAsync(answer);
            }
            catch (SocketException)
            {
            }
        });
        for (var i = 0; i < 300; i++)
        {
            lock (answers)
            {
                answers.Enqueue(Fuzz.Mutate(random, valid, 256));
            }

            var outcome = await ResolveClient.ResolveAsync(new HostEntry("127.0.0.1", fake.Port), "app", "app", "any", TimeSpan.FromSeconds(5), CancellationToken.None);
            if (outcome is ResolveOutcome.Resolved resolved)
            {
                Assert.InRange(resolved.Port, 1, 65535);
                Assert.NotEmpty(resolved.Host);
                resolved.Socket.Dispose();
            }
            else
            {
                Assert.True(outcome is ResolveOutcome.Unreachable or ResolveOutcome.Refused or ResolveOutcome.Postmaster, outcome.ToString());
            }
        }
    }
}
