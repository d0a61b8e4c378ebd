// HbaParser.cs: turns tokenized lines into HbaRules with PostgreSQL's checks and messages (hba.c parse_hba_line).
using System.Globalization;
using System.Net;

namespace ConMgr.Configuration.Hba;

/// <summary>
/// One line's fields: type, database, user, [address [netmask]], method, options. Every
/// message is the server's own (parse_hba_line in PostgreSQL's hba.c), and a
/// <see cref="ConfigException"/> carries the file and line; the caller adds the line's text.
/// PostgreSQL's methods that conmgr cannot perform itself (gss, sspi, ident, peer, pam, ldap,
/// radius, bsd) and the GSSAPI connection types are refused by name rather than ignored, so a
/// copied rule can never silently mean less than it says.
/// </summary>
public static class HbaParser
{
    private static readonly string[] ServerOnlyMethods = ["gss", "sspi", "ident", "peer", "pam", "ldap", "radius", "bsd"];

    public static HbaRule Parse(HbaFileLine line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var fields = line.Fields;
        var next = 0;
        var type = ConnectionType(Single(line, fields[next++], "connection type", "Specify exactly one connection type per line."));

        var databases = Names(line, Field(line, fields, next++, "end-of-line before database specification"));
        var roles = Names(line, Field(line, fields, next++, "end-of-line before role specification"));
        var address = HbaAddress.Any;
        if (type != HbaConnectionType.Local)
        {
            var field = Field(line, fields, next++, "end-of-line before IP address specification");
            var token = SingleToken(line, field, "host address", "Specify one address range per line.");
            (address, var usedNetmask) = Address(line, token, next < fields.Count ? fields[next] : null);
            if (usedNetmask)
            {
                next++;
            }
        }

        var methodField = Field(line, fields, next++, "end-of-line before authentication method");
        var method = Method(line, SingleToken(line, methodField, "authentication type", "Specify exactly one authentication type per line."), type);
        var clientCert = method == HbaMethod.Cert ? HbaClientCert.VerifyFull : HbaClientCert.None;
        string? map = null;
        for (; next < fields.Count; next++)
        {
            foreach (var option in fields[next])
            {
                var equals = option.Text.IndexOf('=', StringComparison.Ordinal);
                if (equals < 0)
                {
                    throw Error(line, $"authentication option not in name=value format: {option.Text}");
                }

                var (name, value) = (option.Text[..equals], option.Text[(equals + 1)..]);
                switch (name)
                {
                    case "clientcert":
                        clientCert = ClientCert(line, value, type, method);
                        break;
                    case "map" when method == HbaMethod.Cert:
                        map = value;
                        break;
                    case "map":
                        throw Error(line, $"authentication option \"map\" is only valid for authentication methods cert, gss, ident, peer, sspi");
                    default:
                        throw Error(line, $"unrecognized authentication option name: \"{name}\"");
                }
            }
        }

        return new HbaRule(type, databases, roles, address, method, clientCert, map, line.File, line.Number, line.Text);
    }

    /// <summary>A database or role list, its /regex tokens compiled once here so that a bad one fails the load, not a login.</summary>
    private static IReadOnlyList<HbaToken> Names(HbaFileLine line, IReadOnlyList<HbaToken> tokens)
    {
        foreach (var token in tokens.Where(t => t.IsRegex))
        {
            try
            {
                _ = new System.Text.RegularExpressions.Regex(token.Text[1..], System.Text.RegularExpressions.RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
            }
            catch (ArgumentException ex)
            {
                throw Error(line, $"invalid regular expression \"{token.Text[1..]}\": {ex.Message}");
            }
        }

        return tokens;
    }

    private static HbaConnectionType ConnectionType(HbaToken token) => token.Text switch
    {
        "local" => HbaConnectionType.Local,
        "host" => HbaConnectionType.Host,
        "hostssl" => HbaConnectionType.HostSsl,
        "hostnossl" => HbaConnectionType.HostNoSsl,
        _ => throw new ArgumentException(token.Text),
    };

    private static HbaToken Single(HbaFileLine line, IReadOnlyList<HbaToken> field, string what, string hint)
    {
        var token = SingleToken(line, field, what, hint);
        if (token.Text is not ("local" or "host" or "hostssl" or "hostnossl"))
        {
            throw token.Text is "hostgssenc" or "hostnogssenc"
                ? Error(line, $"connection type \"{token.Text}\" is not supported by conmgr: it does not offer GSSAPI encryption")
                : Error(line, $"invalid connection type \"{token.Text}\"");
        }

        return token;
    }

    private static HbaToken SingleToken(HbaFileLine line, IReadOnlyList<HbaToken> field, string what, string hint) =>
        field.Count == 1 ? field[0] : throw Error(line, $"multiple values specified for {what} ({hint})");

    private static IReadOnlyList<HbaToken> Field(HbaFileLine line, IReadOnlyList<IReadOnlyList<HbaToken>> fields, int index, string missing) =>
        index < fields.Count ? fields[index] : throw Error(line, missing);

    /// <summary>The address field, and whether the next field was used as its netmask.</summary>
    private static (HbaAddress Address, bool UsedNetmask) Address(HbaFileLine line, HbaToken token, IReadOnlyList<HbaToken>? next)
    {
        if (token.IsKeyword("all"))
        {
            return (HbaAddress.Any, false);
        }

        if (token.IsKeyword("samehost"))
        {
            return (new HbaAddress(HbaAddressKind.SameHost), false);
        }

        if (token.IsKeyword("samenet"))
        {
            return (new HbaAddress(HbaAddressKind.SameNet), false);
        }

        var text = token.Text;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var host = slash < 0 ? text : text[..slash];
        if (!IPAddress.TryParse(host, out var ip) || !IsNumeric(host))
        {
            if (slash >= 0)
            {
                throw Error(line, $"invalid IP address \"{host}\": Name or service not known");
            }

            // A host name: matched by the client address's reverse lookup, confirmed forward, as the server does.
            return (new HbaAddress(HbaAddressKind.HostName, HostName: text.ToLowerInvariant()), false);
        }

        var maximum = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128;
        if (slash >= 0)
        {
            if (!int.TryParse(text[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var prefix) || prefix > maximum)
            {
                throw Error(line, $"invalid CIDR mask in address \"{text}\"");
            }

            return (new HbaAddress(HbaAddressKind.Range, ip, prefix), false);
        }

        // address netmask, in two fields.
        if (next is null)
        {
            throw Error(line, "end-of-line before netmask specification (Specify an address range in CIDR notation, or provide a separate netmask.)");
        }

        if (next.Count != 1)
        {
            throw Error(line, "multiple values specified for netmask");
        }

        if (!IPAddress.TryParse(next[0].Text, out var mask) || !IsNumeric(next[0].Text) || mask.AddressFamily != ip.AddressFamily || PrefixOf(mask) is not { } length)
        {
            throw Error(line, next[0].Text.Length > 0 && IPAddress.TryParse(next[0].Text, out var other) && other.AddressFamily != ip.AddressFamily
                ? "IP address and mask do not match"
                : $"invalid IP mask \"{next[0].Text}\": Name or service not known");
        }

        return (new HbaAddress(HbaAddressKind.Range, ip, length), true);
    }

    /// <summary>The prefix length of a netmask, or null when its one bits are not contiguous.</summary>
    private static int? PrefixOf(IPAddress mask)
    {
        var bytes = mask.GetAddressBytes();
        var length = 0;
        var ended = false;
        foreach (var b in bytes)
        {
            for (var bit = 7; bit >= 0; bit--)
            {
                var set = (b >> bit & 1) == 1;
                if (set && ended)
                {
                    return null;
                }

                ended |= !set;
                length += set ? 1 : 0;
            }
        }

        return length;
    }

    /// <summary>Digits, dots, colons and hex only: "1" or "example" are no address literals here.</summary>
    private static bool IsNumeric(string text) => text.Contains('.', StringComparison.Ordinal) && text.Split('.').Length == 4 && text.All(c => char.IsAsciiDigit(c) || c == '.')
        || text.Contains(':', StringComparison.Ordinal) && text.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.' or '%');

    private static HbaMethod Method(HbaFileLine line, HbaToken token, HbaConnectionType type)
    {
        var method = token.Text switch
        {
            "trust" => HbaMethod.Trust,
            "reject" => HbaMethod.Reject,
            "password" => HbaMethod.Password,
            "md5" => HbaMethod.Md5,
            "scram-sha-256" => HbaMethod.ScramSha256,
            "cert" => HbaMethod.Cert,
            _ when ServerOnlyMethods.Contains(token.Text) => throw Error(line, $"authentication method \"{token.Text}\" is not supported by conmgr (it can perform trust, reject, password, md5, scram-sha-256 and cert)"),
            _ => throw Error(line, $"invalid authentication method \"{token.Text}\""),
        };
        if (method == HbaMethod.Cert && type != HbaConnectionType.HostSsl)
        {
            throw Error(line, "cert authentication is only supported on hostssl connections");
        }

        return method;
    }

    private static HbaClientCert ClientCert(HbaFileLine line, string value, HbaConnectionType type, HbaMethod method)
    {
        if (type != HbaConnectionType.HostSsl)
        {
            throw Error(line, "clientcert can only be configured for \"hostssl\" rows");
        }

        return value switch
        {
            "verify-full" => HbaClientCert.VerifyFull,
            "verify-ca" when method == HbaMethod.Cert => throw Error(line, "clientcert only accepts \"verify-full\" when using \"cert\" authentication"),
            "verify-ca" => HbaClientCert.VerifyCa,
            _ => throw Error(line, $"invalid value for clientcert: \"{value}\""),
        };
    }

    private static ConfigException Error(HbaFileLine line, string message) => new(line.File, line.Number, null, message);
}
