// HbaRule.cs: one parsed line of conmgr_hba.conf: connection type, databases, roles, address, method and options.
using System.Net;

namespace ConMgr.Configuration.Hba;

/// <summary>The first field: which connections a line is about.</summary>
public enum HbaConnectionType
{
    /// <summary>A Unix socket (unix_socket_directories).</summary>
    Local,

    /// <summary>TCP, with or without TLS.</summary>
    Host,

    /// <summary>TCP with TLS.</summary>
    HostSsl,

    /// <summary>TCP without TLS.</summary>
    HostNoSsl,
}

/// <summary>The methods conmgr can perform itself (PostgreSQL's others are refused at load).</summary>
public enum HbaMethod
{
    Trust,
    Reject,
    Password,
    Md5,
    ScramSha256,
    Cert,
}

/// <summary>How a line's address field matches: <c>all</c>, <c>samehost</c>, <c>samenet</c>, a range, or a host name.</summary>
public enum HbaAddressKind
{
    Any,
    SameHost,
    SameNet,
    Range,
    HostName,
}

/// <summary>
/// The address field. A range is an address with its prefix length (CIDR, or address and netmask
/// in two fields); a host name starting with a dot matches every name ending so.
/// </summary>
public sealed record HbaAddress(HbaAddressKind Kind, IPAddress? Network = null, int PrefixLength = 0, string? HostName = null)
{
    public static readonly HbaAddress Any = new(HbaAddressKind.Any);

    /// <summary>True when <paramref name="address"/> is in the range (IPv4 over a dual-stack socket is IPv4).</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (Network is null)
        {
            return false;
        }

        var candidate = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        if (candidate.AddressFamily != Network.AddressFamily)
        {
            return false;
        }

        Span<byte> have = stackalloc byte[16];
        Span<byte> want = stackalloc byte[16];
        candidate.TryWriteBytes(have, out var length);
        Network.TryWriteBytes(want, out _);
        var bits = PrefixLength;
        for (var i = 0; i < length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((have[i] & mask) != (want[i] & mask))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>clientcert: whether, and how strictly, a client certificate is required.</summary>
public enum HbaClientCert
{
    None,
    VerifyCa,
    VerifyFull,
}

/// <summary>A rule, with the line it came from for messages and for <c>cm_ctl status</c>.</summary>
public sealed record HbaRule(
    HbaConnectionType ConnectionType,
    IReadOnlyList<HbaToken> Databases,
    IReadOnlyList<HbaToken> Roles,
    HbaAddress Address,
    HbaMethod Method,
    HbaClientCert ClientCert,
    string? IdentMap,
    string File,
    int LineNumber,
    string LineText);
