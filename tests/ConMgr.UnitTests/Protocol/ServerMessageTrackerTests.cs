// ServerMessageTrackerTests.cs: the proxy's view of a server's byte stream: boundaries and the swapped cancel key, on every split.
using System.Buffers.Binary;
using ConMgr.Protocol.Postgres;
using ConMgr.Testing;

namespace ConMgr.UnitTests.Protocol;

public sealed class ServerMessageTrackerTests
{
    private static readonly BackendKeyData ServerKey = new(4242, [1, 2, 3, 4]);
    private static readonly BackendKeyData ClientKey = new(777, [9, 8, 7, 6]);

    /// <summary>What a server sends from AuthenticationOk to the first result: R, S, K, Z, then T, D, C, Z.</summary>
    private static (byte[] Stream, int[] Boundaries) StartupAndQuery(BackendKeyData key)
    {
        var messages = new List<byte[]>
        {
            Message('R', [0, 0, 0, 0]),
            Message('S', "server_version\u000015.18\u0000"u8.ToArray()),
            Message('K', key.ToBody()),
            Message('Z', [(byte)'I']),
            Message('T', new byte[40]),
            Message('D', new byte[70_000]),
            Message('C', "SELECT 1\u0000"u8.ToArray()),
            Message('Z', [(byte)'I']),
        };
        var boundaries = new List<int> { 0 };
        foreach (var m in messages)
        {
            boundaries.Add(boundaries[^1] + m.Length);
        }

        return ([.. messages.SelectMany(m => m)], [.. boundaries]);
    }

    private static byte[] Message(char type, byte[] body) => PgWire.Message(type, body);

    [Fact]
    public void On_every_split_point_the_key_is_swapped_and_boundaries_are_known()
    {
        var (original, boundaries) = StartupAndQuery(ServerKey);
        var (expected, _) = StartupAndQuery(ClientKey);

        // Every two-way split in the startup part, and around each later boundary.
        var splits = Enumerable.Range(0, boundaries[4] + 1).Concat(boundaries.SelectMany(b => new[] { b - 1, b, b + 1 })).Where(s => s >= 0 && s <= original.Length).Distinct();
        foreach (var split in splits)
        {
            var bytes = (byte[])original.Clone();
            var tracker = new ServerMessageTracker(_ => ClientKey);

            Assert.True(tracker.Advance(bytes.AsSpan(0, split), out _));
            Assert.Equal(boundaries.Contains(split), tracker.AtBoundary);
            Assert.True(tracker.Advance(bytes.AsSpan(split), out _));

            Assert.True(tracker.AtBoundary);
            Assert.True(tracker.Established);
            Assert.Equal(expected, bytes);
            Assert.Equal(ServerKey.ProcessId, tracker.ServerKey!.ProcessId);
            Assert.Equal(ServerKey.SecretKey, tracker.ServerKey.SecretKey);
            Assert.Same(ClientKey, tracker.ClientKey);
        }
    }

    [Fact]
    public void Byte_by_byte_gives_the_same_result()
    {
        var (bytes, boundaries) = StartupAndQuery(ServerKey);
        var (expected, _) = StartupAndQuery(ClientKey);
        var tracker = new ServerMessageTracker(_ => ClientKey);

        for (var i = 0; i < bytes.Length; i++)
        {
            Assert.True(tracker.Advance(bytes.AsSpan(i, 1), out _));
            Assert.Equal(boundaries.Contains(i + 1), tracker.AtBoundary);
        }

        Assert.Equal(expected, bytes);
    }

    [Fact]
    public void A_protocol_3_2_key_of_32_bytes_is_swapped_for_one_of_the_same_length()
    {
        var server = new BackendKeyData(1, [.. Enumerable.Range(0, 32).Select(i => (byte)i)]);
        var lengths = new List<int>();
        var (bytes, _) = StartupAndQuery(server);
        var tracker = new ServerMessageTracker(n =>
        {
            lengths.Add(n);
            return new BackendKeyData(2, new byte[n]);
        });

        Assert.True(tracker.Advance(bytes, out _));

        Assert.Equal([32], lengths);
        Assert.Equal(server.SecretKey, tracker.ServerKey!.SecretKey);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(int.MinValue)]
    public void A_length_word_below_4_is_invalid(int length)
    {
        var bytes = new byte[5];
        bytes[0] = (byte)'D';
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), length);

        Assert.False(new ServerMessageTracker(_ => ClientKey).Advance(bytes, out var error));
        Assert.Contains("invalid message length", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(11)]
    [InlineData(265)]
    [InlineData(int.MaxValue)]
    public void A_backend_key_data_outside_4_to_256_secret_bytes_is_invalid(int length)
    {
        var bytes = new byte[5];
        bytes[0] = (byte)'K';
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), length);

        Assert.False(new ServerMessageTracker(_ => ClientKey).Advance(bytes, out var error));
        Assert.Contains("BackendKeyData", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_announced_length_is_only_counted_never_allocated()
    {
        var bytes = new byte[5];
        bytes[0] = (byte)'D';
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), int.MaxValue);
        var tracker = new ServerMessageTracker(_ => ClientKey);
        var body = new byte[1000];
        var before = GC.GetAllocatedBytesForCurrentThread();

        Assert.True(tracker.Advance(bytes, out _));
        Assert.True(tracker.Advance(body, out _));

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1024);
        Assert.False(tracker.AtBoundary);
    }

    [Fact]
    public void Random_input_never_throws_and_leaves_a_consistent_state()
    {
        var random = new Random(20261129);
        var (seed, _) = StartupAndQuery(ServerKey);
        for (var i = 0; i < 20_000; i++)
        {
            var input = Fuzz.Mutate(random, seed[..Math.Min(seed.Length, 200)], 400);
            var tracker = new ServerMessageTracker(n => new BackendKeyData(1, new byte[n]));
            var position = 0;
            while (position < input.Length)
            {
                var take = 1 + random.Next(input.Length - position);
                if (!tracker.Advance(input.AsSpan(position, take), out var error))
                {
                    Assert.False(string.IsNullOrEmpty(error));
                    break;
                }

                position += take;
            }
        }
    }
}
