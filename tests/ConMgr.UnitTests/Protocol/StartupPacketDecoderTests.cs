// StartupPacketDecoderTests.cs: the startup packet codec, byte for byte and on fragmented input.
using ConMgr.Protocol;
using System.Buffers;
using ConMgr.Protocol.Postgres;

namespace ConMgr.UnitTests.Protocol;

public sealed class StartupPacketDecoderTests
{
    private static readonly byte[] SslRequestBytes = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F];

    private static readonly byte[] StartupBytes = Startup("user\0alice\0database\0shop\0application_name\0\0\0");

    [Fact]
    public void The_ssl_request_conmgr_sends_to_servers_is_the_one_clients_send_and_decodes_as_one()
    {
        var packet = SslRequest.ToArray();
        Assert.Equal(new byte[] { 0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F }, packet);
        Assert.Equal(DecodeStatus.Complete, StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(packet), out var decoded, out _, out _));
        Assert.IsType<SslRequest>(decoded);
    }

    [Fact]
    public void Ssl_request_decodes()
    {
        var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(SslRequestBytes), out var packet, out var consumed, out _);

        Assert.Equal(DecodeStatus.Complete, status);
        Assert.Same(SslRequest.Instance, packet);
        Assert.Equal(8, consumed);
    }

    [Fact]
    public void Gssenc_and_cancel_requests_decode()
    {
        byte[] gss = [0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30];
        byte[] cancel = [0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0x30, 0x39, 0xDE, 0xAD, 0xBE, 0xEF];

        StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(gss), out var gssPacket, out _, out _);
        StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(cancel), out var cancelPacket, out var consumed, out _);

        Assert.Same(GssEncRequest.Instance, gssPacket);
        var request = Assert.IsType<CancelRequest>(cancelPacket);
        Assert.Equal(12345, request.ProcessId);
        Assert.Equal(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF }, request.SecretKey);
        Assert.Equal(16, consumed);
        Assert.Equal(cancel, request.ToArray());
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(32, true)]
    [InlineData(256, true)]
    [InlineData(3, false)]
    [InlineData(0, false)]
    [InlineData(257, false)]
    public void Cancel_request_secrets_of_protocol_3_2_decode_up_to_256_bytes(int keyLength, bool accepted)
    {
        var key = Enumerable.Range(0, keyLength).Select(i => (byte)i).ToArray();
        var packet = new CancelRequest(77, key).ToArray();

        var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(packet), out var decoded, out _, out var error);

        if (accepted)
        {
            Assert.Equal(DecodeStatus.Complete, status);
            Assert.Equal(key, Assert.IsType<CancelRequest>(decoded).SecretKey);
        }
        else
        {
            Assert.Equal(DecodeStatus.Invalid, status);
            Assert.Equal("invalid length of cancel request packet", error);
        }
    }

    [Fact]
    public void A_startup_message_encodes_to_what_decodes_back()
    {
        var message = new StartupMessage(StartupCodes.ProtocolVersion3, new Dictionary<string, string> { ["user"] = "app", ["database"] = "zürich", ["options"] = "-c x=1" });

        StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(message.ToArray()), out var decoded, out _, out _);

        var back = Assert.IsType<StartupMessage>(decoded);
        Assert.Equal(message.ProtocolVersion, back.ProtocolVersion);
        Assert.Equal(message.Parameters, back.Parameters);
    }

    [Fact]
    public void A_startup_message_that_is_not_UTF8_and_names_a_parameter_twice_encodes_back_to_the_clients_bytes()
    {
        // LATIN1 "jörg" and "zürich", and "options" twice (the server applies both, in order).
        byte[] body = [0, 3, 0, 0, .. "user\0j"u8, 0xF6, .. "rg\0database\0z"u8, 0xFC, .. "rich\0options\0-c a=1\0options\0-c a=2\0\0"u8];
        byte[] packet = [0, 0, 0, (byte)(4 + body.Length), .. body];

        Assert.Equal(DecodeStatus.Complete, StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(packet), out var decoded, out _, out _));
        var startup = Assert.IsType<StartupMessage>(decoded);
        Assert.Equal(packet, startup.ToArray());
        Assert.Equal("z\uFFFDrich", startup.GetParameter("database"));
        Assert.Equal("-c a=2", startup.GetParameter("options"));

        // A parameter conmgr sets replaces every pair of that name and leaves the others' bytes alone.
        var set = startup.With("OPTIONS", "-c b=1");
        Assert.Equal([0x6A, 0xF6, 0x72, 0x67], set.Pairs[0].Value.ToArray());
        Assert.Equal(["user", "database", "OPTIONS"], set.Pairs.Select(p => p.NameText));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(1000)]
    public void Startup_message_decodes_from_any_segmentation(int segmentSize)
    {
        var status = StartupPacketDecoder.TryDecode(Segments.Split(StartupBytes, segmentSize), out var packet, out var consumed, out var error);

        Assert.Equal(DecodeStatus.Complete, status);
        Assert.Null(error);
        Assert.Equal(StartupBytes.Length, consumed);
        var startup = Assert.IsType<StartupMessage>(packet);
        Assert.Equal((3, 0), (startup.MajorVersion, startup.MinorVersion));
        Assert.Equal("alice", startup.GetParameter("user"));
        Assert.Equal("shop", startup.GetParameter("database"));
        Assert.Equal(string.Empty, startup.GetParameter("application_name"));
    }

    [Fact]
    public void Every_proper_prefix_needs_more_data()
    {
        for (var length = 0; length < StartupBytes.Length; length++)
        {
            var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(StartupBytes, 0, length), out _, out var consumed, out _);

            Assert.Equal(DecodeStatus.NeedMoreData, status);
            Assert.Equal(0, consumed);
        }
    }

    [Fact]
    public void Bytes_after_the_packet_are_not_consumed()
    {
        byte[] two = [.. SslRequestBytes, .. SslRequestBytes];

        StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(two), out _, out var consumed, out _);

        Assert.Equal(8, consumed);
    }

    public static TheoryData<byte[], string> InvalidPackets => new()
    {
        { [0, 0, 0, 4, 0, 3, 0, 0], "invalid length of startup packet" },
        { [0, 0, 0x27, 0x11, 0, 3, 0, 0], "invalid length of startup packet" },
        { [0x7F, 0xFF, 0xFF, 0xFF], "invalid length of startup packet" },
        { [0xFF, 0xFF, 0xFF, 0xFF], "invalid length of startup packet" },
        { [0x47, 0x45, 0x54, 0x20, 0x2F, 0x20, 0x48, 0x54], "invalid length of startup packet" },
        { [0, 0, 0, 9, 0x04, 0xD2, 0x16, 0x2F, 0], "invalid length of SSL request packet" },
        { [0, 0, 0, 12, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0, 1], "invalid length of cancel request packet" },
        { [0, 0, 0, 9, 0, 2, 0, 0, 0], "unsupported frontend protocol 2.0" },
        { [0, 0, 0, 13, 0, 3, 0, 0, 0x75, 0x73, 0x65, 0x72, 0], "expected terminator as last byte" },
        { [0, 0, 0, 12, 0, 3, 0, 0, 0x61, 0, 0x62, 0], "expected terminator as last byte" },
        { [0, 0, 0, 11, 0, 3, 0, 0, 0, 0, 0], "expected terminator as last byte" },
    };

    [Theory]
    [MemberData(nameof(InvalidPackets))]
    public void Invalid_packets_are_rejected_with_a_reason(byte[] bytes, string reason)
    {
        var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(bytes), out var packet, out _, out var error);

        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Null(packet);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Oversized_length_is_rejected_before_the_body_arrives()
    {
        byte[] header = [0, 0, 0x27, 0x11];

        var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(header), out _, out _, out var error);

        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Equal("invalid length of startup packet", error);
    }

    [Fact]
    public void Largest_allowed_packet_decodes()
    {
        var bytes = new byte[StartupCodes.MaxStartupPacketLength];
        bytes[2] = 0x27;
        bytes[3] = 0x10;
        bytes[5] = 3;
        "user"u8.CopyTo(bytes.AsSpan(8));
        bytes.AsSpan(13, bytes.Length - 15).Fill((byte)'x');

        var status = StartupPacketDecoder.TryDecode(new ReadOnlySequence<byte>(bytes), out var packet, out _, out var error);

        Assert.Equal(DecodeStatus.Complete, status);
        Assert.Equal(bytes.Length - 15, Assert.IsType<StartupMessage>(packet).GetParameter("user")!.Length);
    }

    /// <summary>Length word, protocol 3.0, then the given parameter bytes (which end with the terminator).</summary>
    private static byte[] Startup(string parameters)
    {
        var body = System.Text.Encoding.UTF8.GetBytes(parameters);
        var length = 8 + body.Length;
        return [(byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length, 0, 3, 0, 0, .. body];
    }
}
