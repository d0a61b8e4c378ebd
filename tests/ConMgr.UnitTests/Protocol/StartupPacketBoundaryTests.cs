// StartupPacketBoundaryTests.cs: the startup packet's length word at its boundaries, and a bounded random fuzz of its decoder.
using System.Buffers;
using System.Buffers.Binary;
using ConMgr.Protocol;
using ConMgr.Testing;
using ConMgr.Protocol.Postgres;

namespace ConMgr.UnitTests.Protocol;

public sealed class StartupPacketBoundaryTests
{
    private const int Max = StartupCodes.MaxStartupPacketLength;

    public static TheoryData<int, DecodeStatus> LengthWords => new()
    {
        { 0, DecodeStatus.Invalid },
        { 1, DecodeStatus.Invalid },
        { 7, DecodeStatus.Invalid },             // header − 1
        { 8, DecodeStatus.NeedMoreData },        // header: length word and code
        { Max - 1, DecodeStatus.NeedMoreData },
        { Max, DecodeStatus.NeedMoreData },
        { Max + 1, DecodeStatus.Invalid },
        { int.MaxValue, DecodeStatus.Invalid },
        { int.MinValue, DecodeStatus.Invalid },
        { -1, DecodeStatus.Invalid },
        { -8, DecodeStatus.Invalid },
    };

    [Theory]
    [MemberData(nameof(LengthWords))]
    public void Length_words_are_judged_from_the_length_word_alone(int length, DecodeStatus expected)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, length);

        var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(header), out var packet, out var consumed, out var error);

        Assert.Equal(expected, status);
        Assert.Null(packet);
        Assert.Equal(0, consumed);
        Assert.Equal(expected == DecodeStatus.Invalid ? "invalid length of startup packet" : null, error);
    }

    [Fact]
    public void The_smallest_packet_is_a_bare_code()
    {
        byte[] eight = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F];

        Assert.Equal(DecodeStatus.Complete, StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(eight), out var packet, out var consumed, out _));
        Assert.IsType<SslRequest>(packet);
        Assert.Equal(8, consumed);
    }

    /// <summary>
    /// Bounded fuzz: mutations of every kind of startup packet. The decoder returns a status and
    /// nothing else, consumes exactly the length word's bytes or none, and any segmentation
    /// gives the same answer.
    /// </summary>
    [Fact]
    public void Random_input_never_throws_and_never_overreads()
    {
        var random = new Random(15);
        byte[][] valid =
        [
            [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F],
            [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30],
            [0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 1, 0, 0, 0, 2],
            [0, 0, 0, 23, 0, 3, 0, 0, .. "user\0alice\0\0"u8.ToArray(), 0, 0, 0],
        ];
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = Fuzz.Mutate(random, valid[random.Next(valid.Length)], 512);
            var whole = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(bytes), out var packet, out var consumed, out var error);
            Assert.Equal(whole == DecodeStatus.Complete, packet is not null);
            Assert.Equal(whole == DecodeStatus.Invalid, error is not null);
            Assert.True(whole == DecodeStatus.Complete ? consumed == BinaryPrimitives.ReadInt32BigEndian(bytes) : consumed == 0);

            var split = StartupPacketDecoder.TryDecode(Segments.Split(bytes, 1 + random.Next(5)), out var splitPacket, out var splitConsumed, out _);
            Assert.Equal(whole, split);
            Assert.Equal(consumed, splitConsumed);
            Assert.Equal(Describe(packet), Describe(splitPacket));
        }
    }

    private static string? Describe(StartupPacket? packet) => packet is StartupMessage startup
        ? $"{startup.ProtocolVersion}:{string.Join(",", startup.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))}"
        : packet?.ToString();
}
