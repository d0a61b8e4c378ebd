// AuthLookupFrames.cs: protocol 1.4's lookup frames: conmgr asks the watchdog for a role's secret (preauth), the watchdog answers by request id.
using System.Buffers.Binary;
using System.Text;

namespace ConMgr.Protocol.Heartbeat;

/// <summary>What the watchdog found for a lookup (docs/protocol.md, "Authentication lookups").</summary>
public enum AuthLookupStatus : byte
{
    /// <summary>The role exists and may be looked up: <see cref="AuthLookupAnswerFrame.Secret"/> is its rolpassword.</summary>
    Found = 0,

    /// <summary>No role of that name.</summary>
    NoSuchRole = 1,

    /// <summary>The role has no password, or one conmgr may not have (an md5 hash without watchdog.auth_lookup_md5).</summary>
    NoPassword = 2,

    /// <summary>rolvaliduntil has passed.</summary>
    Expired = 3,

    /// <summary>The watchdog's policy does not hand this role out (a superuser, or not in watchdog.auth_lookup_roles).</summary>
    Refused = 4,

    /// <summary>The link is not authenticated by a verified client certificate: no lookup is answered on it.</summary>
    RefusedLink = 5,

    /// <summary>The lookup could not be done (the instance did not answer, too many lookups waiting).</summary>
    Failed = 6,
}

/// <summary>
/// conmgr → watchdog (1.4): the secret of <see cref="Role"/>, and whether it is a member of each of
/// <see cref="Groups"/> (the <c>+group</c> names of conmgr_hba.conf). Names are at most
/// <see cref="MaxNameBytes"/> bytes (NAMEDATALEN − 1), groups at most <see cref="MaxGroups"/>, so
/// the frame always fits <see cref="HeartbeatCodec.MaxFrameLength"/>.
/// </summary>
public sealed record AuthLookupFrame(uint RequestId, string Role, IReadOnlyList<string> Groups) : HeartbeatFrame
{
    /// <summary>PostgreSQL's NAMEDATALEN − 1: longer names are cut by the server, and so by conmgr before it asks.</summary>
    public const int MaxNameBytes = 63;

    /// <summary>Distinct +group names one lookup may ask about (conmgr_hba.conf may name no more).</summary>
    public const int MaxGroups = 14;

    public override HeartbeatFrameType Type => HeartbeatFrameType.AuthLookup;

    public override int PayloadLength => 4 + NameLength(Role) + 1 + Groups.Sum(NameLength);

    public override void WritePayload(Span<byte> destination)
    {
        if (Groups.Count > MaxGroups)
        {
            throw new InvalidOperationException($"at most {MaxGroups} groups per lookup");
        }

        BinaryPrimitives.WriteUInt32BigEndian(destination, RequestId);
        var at = 4 + WriteName(destination[4..], Role);
        destination[at++] = (byte)Groups.Count;
        foreach (var group in Groups)
        {
            at += WriteName(destination[at..], group);
        }
    }

    /// <summary>By content: the groups compared in order.</summary>
    public bool Equals(AuthLookupFrame? other) =>
        other is not null && RequestId == other.RequestId && Role == other.Role && Groups.SequenceEqual(other.Groups);

    public override int GetHashCode() => HashCode.Combine(RequestId, Role, Groups.Count);

    private static int NameLength(string name) => 1 + Encoding.UTF8.GetByteCount(name);

    private static int WriteName(Span<byte> destination, string name)
    {
        var length = Encoding.UTF8.GetByteCount(name);
        if (length > MaxNameBytes)
        {
            throw new InvalidOperationException($"a name in a lookup is at most {MaxNameBytes} bytes");
        }

        destination[0] = (byte)length;
        Encoding.UTF8.GetBytes(name, destination[1..]);
        return 1 + length;
    }

    internal static AuthLookupFrame? Decode(ReadOnlySpan<byte> p, out string? error)
    {
        error = null;
        if (p.Length < 4 + 1 + 1)
        {
            error = $"invalid payload length {p.Length} for AuthLookup frame";
            return null;
        }

        var id = BinaryPrimitives.ReadUInt32BigEndian(p);
        var at = 4;
        if (ReadName(p, ref at, out error) is not { } role)
        {
            return null;
        }

        if (at >= p.Length)
        {
            error = "AuthLookup frame ends before its group count";
            return null;
        }

        var count = p[at++];
        if (count > MaxGroups)
        {
            error = $"AuthLookup frame asks about {count} groups (at most {MaxGroups})";
            return null;
        }

        var groups = new string[count];
        for (var i = 0; i < count; i++)
        {
            if (ReadName(p, ref at, out error) is not { } group)
            {
                return null;
            }

            groups[i] = group;
        }

        if (at != p.Length)
        {
            error = $"{p.Length - at} bytes after the last group of an AuthLookup frame";
            return null;
        }

        return new AuthLookupFrame(id, role, groups);
    }

    /// <summary>A length byte and that many bytes of UTF-8 (strictly decoded: a name with invalid bytes is a protocol error).</summary>
    private static string? ReadName(ReadOnlySpan<byte> p, ref int at, out string? error)
    {
        error = null;
        if (at >= p.Length)
        {
            error = "AuthLookup frame ends before a name";
            return null;
        }

        int length = p[at];
        if (length > MaxNameBytes || length > p.Length - at - 1)
        {
            error = $"invalid name length {length} in AuthLookup frame";
            return null;
        }

        try
        {
            var name = StrictUtf8.GetString(p.Slice(at + 1, length));
            at += 1 + length;
            return name;
        }
        catch (DecoderFallbackException)
        {
            error = "a name in an AuthLookup frame is not valid UTF-8";
            return null;
        }
    }

    internal static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}

/// <summary>
/// watchdog → conmgr (1.4): the answer to the lookup with the same <see cref="RequestId"/>
/// (answers may come out of order). <see cref="Secret"/> is the role's rolpassword when
/// <see cref="Status"/> is Found; otherwise a mock SCRAM secret whose salt is a keyed hash of the
/// role name, so that an exchange for a role conmgr may not know looks like one for a real role.
/// <see cref="Membership"/> has bit i set when the role is a member (directly or not, never just
/// for being a superuser) of the lookup's group i.
/// </summary>
public sealed record AuthLookupAnswerFrame(uint RequestId, AuthLookupStatus Status, bool Superuser, bool CanLogin, ushort Membership, string Secret) : HeartbeatFrame
{
    /// <summary>Largest secret carried (a SCRAM secret with a 16-byte salt is 133 bytes; PostgreSQL's own limit on what it accepts is far larger, and a longer one is answered Failed).</summary>
    public const int MaxSecretBytes = 900;

    public override HeartbeatFrameType Type => HeartbeatFrameType.AuthLookupAnswer;

    public override int PayloadLength => 4 + 1 + 1 + 2 + 2 + Encoding.UTF8.GetByteCount(Secret);

    public override void WritePayload(Span<byte> destination)
    {
        var length = Encoding.UTF8.GetByteCount(Secret);
        if (length > MaxSecretBytes)
        {
            throw new InvalidOperationException($"a lookup's secret is at most {MaxSecretBytes} bytes");
        }

        BinaryPrimitives.WriteUInt32BigEndian(destination, RequestId);
        destination[4] = (byte)Status;
        destination[5] = (byte)((Superuser ? 1 : 0) | (CanLogin ? 2 : 0));
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], Membership);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], (ushort)length);
        Encoding.UTF8.GetBytes(Secret, destination[10..]);
    }

    /// <summary>Never the secret: a frame in a log or an assertion message must not carry it.</summary>
    public override string ToString() => $"AuthLookupAnswerFrame {{ RequestId = {RequestId}, Status = {Status}, Superuser = {Superuser}, CanLogin = {CanLogin}, Membership = {Membership}, Secret = ({Secret.Length} characters) }}";

    internal static AuthLookupAnswerFrame? Decode(ReadOnlySpan<byte> p, out string? error)
    {
        error = null;
        if (p.Length < 10)
        {
            error = $"invalid payload length {p.Length} for AuthLookupAnswer frame";
            return null;
        }

        var status = p[4];
        if (!Enum.IsDefined((AuthLookupStatus)status))
        {
            error = $"unknown lookup status {status}";
            return null;
        }

        if ((p[5] & ~3) != 0)
        {
            error = $"unknown lookup flags 0x{p[5]:x2}";
            return null;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(p[8..]);
        if (length > MaxSecretBytes || length != p.Length - 10)
        {
            error = $"invalid secret length {length} in AuthLookupAnswer frame of {p.Length} bytes";
            return null;
        }

        string secret;
        try
        {
            secret = AuthLookupFrame.StrictUtf8.GetString(p.Slice(10, length));
        }
        catch (DecoderFallbackException)
        {
            error = "the secret in an AuthLookupAnswer frame is not valid UTF-8";
            return null;
        }

        return new AuthLookupAnswerFrame(BinaryPrimitives.ReadUInt32BigEndian(p), (AuthLookupStatus)status, (p[5] & 1) != 0, (p[5] & 2) != 0, BinaryPrimitives.ReadUInt16BigEndian(p[6..]), secret);
    }
}
