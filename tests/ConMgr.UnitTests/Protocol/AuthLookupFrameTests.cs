// AuthLookupFrameTests.cs: the lookup frames at their limits: name lengths, group counts, secret lengths, statuses, flags, UTF-8.
using System.Buffers.Binary;
using System.Text;
using ConMgr.Protocol;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.UnitTests.Protocol;

public sealed class AuthLookupFrameTests
{
    private static (DecodeStatus Status, HeartbeatFrame? Frame, string? Error) Decode(byte[] bytes)
    {
        var status = HeartbeatCodec.TryDecode(Segments.Split(bytes, 3), out var frame, out _, out var error);
        return (status, frame, error);
    }

    /// <summary>A frame of <paramref name="type"/> around <paramref name="payload"/>, whatever it holds.</summary>
    private static byte[] Frame(HeartbeatFrameType type, byte[] payload)
    {
        var bytes = new byte[HeartbeatCodec.HeaderLength + payload.Length];
        bytes[0] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(1), payload.Length + 4);
        payload.CopyTo(bytes, HeartbeatCodec.HeaderLength);
        return bytes;
    }

    [Fact]
    public void The_largest_lookup_fits_in_a_frame()
    {
        var name = new string('r', AuthLookupFrame.MaxNameBytes);
        var groups = Enumerable.Range(0, AuthLookupFrame.MaxGroups).Select(i => new string((char)('a' + i), AuthLookupFrame.MaxNameBytes)).ToArray();
        var frame = new AuthLookupFrame(uint.MaxValue, name, groups);

        var bytes = HeartbeatCodec.ToArray(frame);

        Assert.True(bytes.Length <= HeartbeatCodec.MaxFrameLength);
        Assert.Equal(frame, Decode(bytes).Frame);
    }

    [Fact]
    public void A_name_longer_than_namedatalen_or_too_many_groups_cannot_be_encoded()
    {
        Assert.Throws<InvalidOperationException>(() => HeartbeatCodec.ToArray(new AuthLookupFrame(1, new string('r', AuthLookupFrame.MaxNameBytes + 1), [])));
        Assert.Throws<InvalidOperationException>(() => HeartbeatCodec.ToArray(new AuthLookupFrame(1, "r", [.. Enumerable.Repeat("g", AuthLookupFrame.MaxGroups + 1)])));
        Assert.Throws<InvalidOperationException>(() => HeartbeatCodec.ToArray(new AuthLookupAnswerFrame(1, AuthLookupStatus.Found, false, true, 0, new string('s', AuthLookupAnswerFrame.MaxSecretBytes + 1))));
    }

    public static TheoryData<byte[], string> InvalidLookups => new()
    {
        { [0, 0, 0, 1], "invalid payload length 4 for AuthLookup frame" },
        { [0, 0, 0, 1, 64, .. new byte[64], 0], "invalid name length 64 in AuthLookup frame" },
        { [0, 0, 0, 1, 5, (byte)'a', 0], "invalid name length 5 in AuthLookup frame" },
        { [0, 0, 0, 1, 1, (byte)'a'], "AuthLookup frame ends before its group count" },
        { [0, 0, 0, 1, 1, (byte)'a', AuthLookupFrame.MaxGroups + 1], $"AuthLookup frame asks about {AuthLookupFrame.MaxGroups + 1} groups (at most {AuthLookupFrame.MaxGroups})" },
        { [0, 0, 0, 1, 1, (byte)'a', 2, 1, (byte)'g'], "AuthLookup frame ends before a name" },
        { [0, 0, 0, 1, 1, (byte)'a', 0, 9], "1 bytes after the last group of an AuthLookup frame" },
        { [0, 0, 0, 1, 1, 0xFF, 0], "a name in an AuthLookup frame is not valid UTF-8" },
    };

    [Theory]
    [MemberData(nameof(InvalidLookups))]
    public void Malformed_lookups_are_refused_with_a_reason(byte[] payload, string reason)
    {
        var (status, frame, error) = Decode(Frame(HeartbeatFrameType.AuthLookup, payload));

        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Null(frame);
        Assert.Equal(reason, error);
    }

    private static byte[] Answer(byte status, byte flags, int declared, int actual)
    {
        var payload = new byte[10 + actual];
        payload[4] = status;
        payload[5] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(8), (ushort)declared);
        payload.AsSpan(10).Fill((byte)'s');
        return payload;
    }

    public static TheoryData<byte[], string> InvalidAnswers => new()
    {
        { new byte[9], "invalid payload length 9 for AuthLookupAnswer frame" },
        { Answer(7, 0, 0, 0), "unknown lookup status 7" },
        { Answer(0, 4, 0, 0), "unknown lookup flags 0x04" },
        { Answer(0, 0, 3, 2), "invalid secret length 3 in AuthLookupAnswer frame of 12 bytes" },
        { Answer(0, 0, 1, 2), "invalid secret length 1 in AuthLookupAnswer frame of 12 bytes" },
        { Answer(0, 0, AuthLookupAnswerFrame.MaxSecretBytes + 1, AuthLookupAnswerFrame.MaxSecretBytes + 1), $"invalid secret length {AuthLookupAnswerFrame.MaxSecretBytes + 1} in AuthLookupAnswer frame of {AuthLookupAnswerFrame.MaxSecretBytes + 11} bytes" },
        { [0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0xC3], "the secret in an AuthLookupAnswer frame is not valid UTF-8" },
    };

    [Theory]
    [MemberData(nameof(InvalidAnswers))]
    public void Malformed_answers_are_refused_with_a_reason(byte[] payload, string reason)
    {
        var (status, frame, error) = Decode(Frame(HeartbeatFrameType.AuthLookupAnswer, payload));

        Assert.Equal(DecodeStatus.Invalid, status);
        Assert.Null(frame);
        Assert.Equal(reason, error);
    }

    [Fact]
    public void The_largest_secret_round_trips_and_flags_and_membership_survive()
    {
        var frame = new AuthLookupAnswerFrame(42, AuthLookupStatus.Found, Superuser: true, CanLogin: false, Membership: 0xFFFF, new string('s', AuthLookupAnswerFrame.MaxSecretBytes));

        var decoded = Assert.IsType<AuthLookupAnswerFrame>(Decode(HeartbeatCodec.ToArray(frame)).Frame);

        Assert.Equal(frame, decoded);
        Assert.True(decoded.Superuser);
        Assert.False(decoded.CanLogin);
    }

    [Fact]
    public void An_answer_never_shows_its_secret_when_printed()
    {
        const string secret = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVka2V5:c2VydmVya2V5";
        var text = new AuthLookupAnswerFrame(1, AuthLookupStatus.Found, false, true, 0, secret).ToString();

        Assert.DoesNotContain("c3RvcmVka2V5", text, StringComparison.Ordinal);
        Assert.Contains($"({secret.Length} characters)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Multibyte_names_are_counted_in_bytes()
    {
        // 31 two-byte characters and one more byte: 63 bytes, the limit.
        var name = new string('ö', 31) + "x";
        Assert.Equal(AuthLookupFrame.MaxNameBytes, Encoding.UTF8.GetByteCount(name));

        Assert.Equal(name, Assert.IsType<AuthLookupFrame>(Decode(HeartbeatCodec.ToArray(new AuthLookupFrame(1, name, []))).Frame).Role);
        Assert.Throws<InvalidOperationException>(() => HeartbeatCodec.ToArray(new AuthLookupFrame(1, name + "ö", [])));
    }
}
