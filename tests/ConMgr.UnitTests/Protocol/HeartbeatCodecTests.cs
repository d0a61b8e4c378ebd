// HeartbeatCodecTests.cs: every heartbeat frame byte for byte, round trips, fragmented input, and rejects.
using System.Buffers;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.UnitTests.Protocol;

public sealed class HeartbeatCodecTests
{
    private static readonly InstanceAttributes Standby = new(true, true, false, 3, 0x0102030405060708, 0x1_0000_0010, 1500, 150020, 9);

    public static TheoryData<HeartbeatFrame> Frames => new()
    {
        new HelloFrame(1, 1, 200, 1000, 0x1122334455667788),
        new WelcomeFrame(1, 0),
        new BeatFrame(123456789, 987654321, 42),
        new AttributesFrame(Standby),
        new AttributesFrame(InstanceAttributes.Unavailable),
        new GoodbyeFrame("conmgr shutting down"),
        new RefusalFrame("too many heartbeat connections (max_heartbeat_connections = 3)"),
        new GoodbyeFrame(string.Empty),
        new ChallengeFrame([.. Enumerable.Range(1, 32).Select(i => (byte)i)]),
        new ProofFrame([.. Enumerable.Range(1, 32).Select(i => (byte)(255 - i))], [.. Enumerable.Range(1, 32).Select(i => (byte)(i * 7))]),
        new AuthLookupFrame(7, "app", []),
        new AuthLookupFrame(uint.MaxValue, "jörg", ["readers", "writers"]),
        new AuthLookupAnswerFrame(7, AuthLookupStatus.Found, Superuser: false, CanLogin: true, Membership: 0b10, "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5"),
        new AuthLookupAnswerFrame(8, AuthLookupStatus.NoSuchRole, Superuser: false, CanLogin: false, Membership: 0, string.Empty),
    };

    [Fact]
    public void Hello_is_encoded_byte_for_byte()
    {
        var bytes = HeartbeatCodec.ToArray(new HelloFrame(1, 1, 200, 1000, 0x0102030405060708));

        Assert.Equal(
            new byte[] { (byte)'H', 0, 0, 0, 28, 0x43, 0x4D, 0x48, 0x42, 0, 1, 0, 1, 0, 0, 0, 200, 0, 0, 0x03, 0xE8, 1, 2, 3, 4, 5, 6, 7, 8 },
            bytes);
    }

    [Fact]
    public void A_protocol_1_0_hello_without_conmgr_id_still_decodes()
    {
        byte[] bytes = [(byte)'H', 0, 0, 0, 20, 0x43, 0x4D, 0x48, 0x42, 0, 1, 0, 0, 0, 0, 0, 200, 0, 0, 0x03, 0xE8];

        Assert.Equal(DecodeStatus.Complete, HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(bytes), out var frame, out _, out _));
        Assert.Equal(new HelloFrame(1, 0, 200, 1000, 0), frame);
    }

    [Fact]
    public void Attributes_are_encoded_byte_for_byte()
    {
        var bytes = HeartbeatCodec.ToArray(new AttributesFrame(Standby));

        Assert.Equal(
            new byte[]
            {
                (byte)'A', 0, 0, 0, 41,
                0b011,
                0, 0, 0, 3,
                1, 2, 3, 4, 5, 6, 7, 8,
                0, 0, 0, 1, 0, 0, 0, 0x10,
                0, 0, 0, 0, 0, 0, 0x05, 0xDC,
                0, 0x02, 0x4A, 0x04,
                0, 0, 0, 9,
            },
            bytes);
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void Every_frame_round_trips_from_one_byte_segments(HeartbeatFrame frame)
    {
        var bytes = HeartbeatCodec.ToArray(frame);

        var status = HeartbeatCodec.TryDecode(Segments.Split(bytes, 1), out var decoded, out var consumed, out var error);

        Assert.Equal(DecodeStatus.Complete, status);
        Assert.Null(error);
        Assert.Equal(bytes.Length, consumed);
        Assert.Equal(frame, decoded);
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void Every_proper_prefix_needs_more_data(HeartbeatFrame frame)
    {
        var bytes = HeartbeatCodec.ToArray(frame);

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Equal(DecodeStatus.NeedMoreData, HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(bytes, 0, length), out _, out _, out _));
        }
    }

    [Fact]
    public void Two_frames_in_one_buffer_decode_one_at_a_time()
    {
        byte[] both = [.. HeartbeatCodec.ToArray(new WelcomeFrame(1, 0)), .. HeartbeatCodec.ToArray(new AttributesFrame(Standby))];

        HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(both), out var first, out var consumed, out _);
        HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(both, (int)consumed, both.Length - (int)consumed), out var second, out _, out _);

        Assert.IsType<WelcomeFrame>(first);
        Assert.Equal(new AttributesFrame(Standby), second);
    }

    [Fact]
    public void Long_text_is_cut_to_the_limit_on_a_character_boundary()
    {
        var frame = new GoodbyeFrame(new string('é', 400));

        HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(HeartbeatCodec.ToArray(frame)), out var decoded, out _, out _);

        Assert.Equal(new string('é', HeartbeatCodec.MaxTextBytes / 2), Assert.IsType<GoodbyeFrame>(decoded).Reason);
    }

    public static TheoryData<byte[], string> Invalid => new()
    {
        { [(byte)'X'], "unknown frame type 0x58" },
        { [(byte)'G', (byte)'E', (byte)'T', (byte)' ', (byte)'/'], "invalid frame length" },
        { [(byte)'H', 0, 1, 0, 0], "invalid frame length 65536" },
        { [(byte)'B', 0, 0, 0, 3], "invalid frame length 3" },
        { [(byte)'B', 0, 0, 0, 8, 1, 2, 3, 4], "invalid payload length 4 for Beat frame" },
        { [(byte)'H', 0, 0, 0, 20, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 200, 0, 0, 3, 232], "bad magic in hello frame" },
        { [(byte)'H', 0, 0, 0, 24, 0x43, 0x4D, 0x48, 0x42, 0, 1, 0, 1, 0, 0, 0, 200, 0, 0, 3, 232, 0, 0, 0, 0], "invalid payload length 20 for Hello frame" },
        { [(byte)'W', 0, 0, 0, 4], "invalid payload length 0 for Welcome frame" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_input_is_rejected_with_a_reason(byte[] bytes, string reason)
    {
        var status = HeartbeatCodec.TryDecode(new ReadOnlySequence<byte>(bytes), out var frame, out _, out var error);

        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Null(frame);
        Assert.StartsWith(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Role_and_read_write_follow_libpq()
    {
        Assert.Equal("standby", Standby.Role);
        Assert.False(Standby.IsReadWrite);
        Assert.True((Standby with { InRecovery = false }).IsReadWrite);
        Assert.False((Standby with { InRecovery = false, DefaultTransactionReadOnly = true }).IsReadWrite);
        Assert.Equal("unknown", InstanceAttributes.Unavailable.Role);
        Assert.False(Standby.RoleDiffers(Standby with { Lsn = 1, ReplayLagUs = 7, Sequence = 99 }));
        Assert.True(Standby.RoleDiffers(Standby with { Timeline = 4 }));
    }
}
