// HeartbeatCodecBoundaryTests.cs: every length word at its boundaries, and a bounded random fuzz of the frame decoder.
using System.Buffers;
using System.Buffers.Binary;
using ConMgr.Protocol;
using ConMgr.Testing;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.UnitTests.Protocol;

public sealed class HeartbeatCodecBoundaryTests
{
    /// <summary>A header with the given type and length word, and nothing after it.</summary>
    private static byte[] Header(HeartbeatFrameType type, int length)
    {
        var bytes = new byte[HeartbeatCodec.HeaderLength];
        bytes[0] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), length);
        return bytes;
    }

    /// <summary>
    /// The five-byte header that once overflowed "length + 1" and sized a stackalloc from the
    /// wire: it killed cm_watchdog and conmgr with a stack overflow.
    /// </summary>
    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(int.MaxValue - 1)]
    [InlineData(int.MinValue)]
    [InlineData(-1)]
    [InlineData(-4)]
    public void A_length_word_that_would_overflow_is_invalid_from_the_header_alone(int length)
    {
        foreach (var type in Enum.GetValues<HeartbeatFrameType>())
        {
            var status = HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(Header(type, length)), out var frame, out var consumed, out var error);

            Assert.Equal(DecodeStatus.Invalid, status);
            Assert.Null(frame);
            Assert.Equal(0, consumed);
            Assert.Equal($"invalid frame length {length}", error);
        }
    }

    public static TheoryData<int, DecodeStatus> LengthWords => new()
    {
        { 0, DecodeStatus.Invalid },
        { 1, DecodeStatus.Invalid },
        { 3, DecodeStatus.Invalid },                                    // header − 1: shorter than the length word itself
        { 4, DecodeStatus.Complete },                                   // header: an empty Goodbye is a whole frame
        { HeartbeatCodec.MaxFrameLength - 2, DecodeStatus.NeedMoreData }, // max − 1
        { HeartbeatCodec.MaxFrameLength - 1, DecodeStatus.NeedMoreData }, // max: type byte + length = MaxFrameLength
        { HeartbeatCodec.MaxFrameLength, DecodeStatus.Invalid },        // max + 1
        { 65536, DecodeStatus.Invalid },
    };

    [Theory]
    [MemberData(nameof(LengthWords))]
    public void Length_words_at_the_boundaries(int length, DecodeStatus expected)
    {
        // Only the header: a valid length asks for its payload; an invalid one fails at once.
        var status = HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(Header(HeartbeatFrameType.Goodbye, length)), out _, out _, out var error);

        Assert.Equal(expected, status);
        Assert.Equal(expected == DecodeStatus.Invalid, error is not null);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(HeartbeatCodec.MaxTextBytes - 1)]
    [InlineData(HeartbeatCodec.MaxTextBytes)]
    [InlineData(HeartbeatCodec.MaxTextBytes + 1)]
    [InlineData(HeartbeatCodec.MaxFrameLength - HeartbeatCodec.HeaderLength)]
    public void Text_payloads_decode_up_to_their_limit_and_no_further(int payloadLength)
    {
        var bytes = new byte[HeartbeatCodec.HeaderLength + payloadLength];
        bytes[0] = (byte)HeartbeatFrameType.Goodbye;
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), payloadLength + 4);
        bytes.AsSpan(HeartbeatCodec.HeaderLength).Fill((byte)'x');

        var status = HeartbeatCodec.TryDecode(Segments.Split(bytes, 7), out var frame, out var consumed, out _);

        if (payloadLength <= HeartbeatCodec.MaxTextBytes)
        {
            Assert.Equal(DecodeStatus.Complete, status);
            Assert.Equal(bytes.Length, consumed);
            Assert.Equal(payloadLength, Assert.IsType<GoodbyeFrame>(frame).Reason.Length);
        }
        else
        {
            Assert.Equal(DecodeStatus.Invalid, status);
        }
    }

    /// <summary>
    /// Bounded fuzz: random bytes, random mutations of valid frames, random length words. The
    /// decoder must only ever return a status (no exception), consume nothing unless complete,
    /// never more than it was given, and agree with itself on any segmentation.
    /// </summary>
    [Fact]
    public void Random_input_never_throws_and_never_overreads()
    {
        var random = new Random(20261129);
        byte[][] valid =
        [
            HeartbeatCodec.ToArray(new HelloFrame(1, 1, 200, 1000, 42)),
            HeartbeatCodec.ToArray(new WelcomeFrame(1, 1)),
            HeartbeatCodec.ToArray(new BeatFrame(1, 2, 3)),
            HeartbeatCodec.ToArray(new AttributesFrame(InstanceAttributes.Unavailable)),
            HeartbeatCodec.ToArray(new GoodbyeFrame("bye")),
            HeartbeatCodec.ToArray(new AuthLookupFrame(1, "app", ["g1", "g2"])),
            HeartbeatCodec.ToArray(new AuthLookupAnswerFrame(1, AuthLookupStatus.Found, false, true, 3, "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5")),
        ];
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = Fuzz.Mutate(random, valid[random.Next(valid.Length)], HeartbeatCodec.MaxFrameLength + 16);
            var whole = HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(bytes), out var frame, out var consumed, out var error);
            Assert.True(consumed >= 0 && consumed <= bytes.Length);
            Assert.Equal(whole == DecodeStatus.Complete, frame is not null);
            Assert.Equal(whole == DecodeStatus.Invalid, error is not null);
            if (whole != DecodeStatus.Complete)
            {
                Assert.Equal(0, consumed);
            }

            var split = HeartbeatCodec.TryDecode(Segments.Split(bytes, 1 + random.Next(8)), out var splitFrame, out var splitConsumed, out _);
            Assert.Equal(whole, split);
            Assert.Equal(consumed, splitConsumed);
            Assert.Equal(frame, splitFrame);
        }
    }

    [Fact]
    public void The_beat_fast_path_agrees_with_the_decoder_byte_for_byte()
    {
        var bytes = new byte[HeartbeatCodec.BeatLength];
        Assert.Equal(HeartbeatCodec.BeatLength, HeartbeatCodec.WriteBeat(bytes, 123456789, 987654321, 42));

        Assert.Equal(HeartbeatCodec.ToArray(new BeatFrame(123456789, 987654321, 42)), bytes);
        Assert.True(HeartbeatCodec.TryReadBeat(bytes, out var sent));
        Assert.Equal(123456789, sent);
    }

    [Fact]
    public void The_beat_fast_path_leaves_everything_else_to_the_decoder()
    {
        var beat = HeartbeatCodec.ToArray(new BeatFrame(1, 2, 3));
        var random = new Random(11);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = Fuzz.Mutate(random, beat, 64);
            if (HeartbeatCodec.TryReadBeat(bytes, out var sent))
            {
                // Whatever the fast path takes, the decoder takes the same way.
                Assert.Equal(DecodeStatus.Complete, HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(bytes), out var frame, out var consumed, out _));
                Assert.Equal(HeartbeatCodec.BeatLength, consumed);
                Assert.Equal(sent, Assert.IsType<BeatFrame>(frame).SentUs);
            }
        }

        Assert.False(HeartbeatCodec.TryReadBeat(beat.AsSpan(0, HeartbeatCodec.BeatLength - 1), out _));
    }
}
