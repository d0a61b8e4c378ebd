// HbaMatcher.cs: the first rule that matches a client (connection type, database, role, address), as the server's check_hba.
using System.Net;
using System.Text.RegularExpressions;

namespace ConMgr.Configuration.Hba;

/// <summary>What a rule is matched against: how the client came, who it says it is, where from.</summary>
/// <param name="Address">null on a Unix socket.</param>
public sealed record HbaClient(bool Local, bool Ssl, IPAddress? Address, string Database, string Role, bool Replication = false);

/// <summary>
/// check_hba of PostgreSQL: rules in order, the first whose type, database, role and address all
/// match decides; none is PostgreSQL's FATAL 28000 "no pg_hba.conf entry". Role membership
/// (<c>+group</c>, <c>samerole</c>) and host names (reverse lookup, confirmed forward) are asked of
/// the caller, which knows the instance and the resolver.
/// </summary>
public sealed class HbaMatcher(IReadOnlyList<HbaRule> rules, Func<string, string, bool> isMember, Func<IPAddress, string?>? reverseName = null, Func<IPAddress, bool>? isLocalAddress = null, Func<IPAddress, bool>? isLocalNetwork = null)
{
    /// <summary>Bound on a /regex match: a rule is the operator's, the name the client's.</summary>
    private static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(100);

    public HbaRule? Match(HbaClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        foreach (var rule in rules)
        {
            if (TypeMatches(rule.ConnectionType, client) && DatabaseMatches(rule.Databases, client) && RoleMatches(rule.Roles, client.Role) && AddressMatches(rule.Address, client))
            {
                return rule;
            }
        }

        return null;
    }

    private static bool TypeMatches(HbaConnectionType type, HbaClient client) => type switch
    {
        HbaConnectionType.Local => client.Local,
        HbaConnectionType.Host => !client.Local,
        HbaConnectionType.HostSsl => !client.Local && client.Ssl,
        _ => !client.Local && !client.Ssl,
    };

    private bool DatabaseMatches(IReadOnlyList<HbaToken> tokens, HbaClient client)
    {
        foreach (var token in tokens)
        {
            if (client.Replication)
            {
                // A physical replication connection matches only the replication keyword.
                if (token.IsKeyword("replication"))
                {
                    return true;
                }

                continue;
            }

            if (token.IsKeyword("all")
                || token.IsKeyword("sameuser") && client.Database == client.Role
                || (token.IsKeyword("samegroup") || token.IsKeyword("samerole")) && isMember(client.Role, client.Database)
                || !token.IsKeyword("replication") && NameMatches(token, client.Database))
            {
                return true;
            }
        }

        return false;
    }

    private bool RoleMatches(IReadOnlyList<HbaToken> tokens, string role)
    {
        foreach (var token in tokens)
        {
            if (token.IsKeyword("all")
                || token.IsGroup && isMember(role, token.Text[1..])
                || !token.IsGroup && NameMatches(token, role))
            {
                return true;
            }
        }

        return false;
    }

    private static bool NameMatches(HbaToken token, string name)
    {
        if (!token.IsRegex)
        {
            return string.Equals(token.Text, name, StringComparison.Ordinal);
        }

        try
        {
            return Regex.IsMatch(name, token.Text[1..], RegexOptions.CultureInvariant, RegexTimeout);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    private bool AddressMatches(HbaAddress address, HbaClient client)
    {
        if (client.Local || address.Kind == HbaAddressKind.Any)
        {
            return true;
        }

        if (client.Address is not { } ip)
        {
            return false;
        }

        return address.Kind switch
        {
            HbaAddressKind.Range => address.Contains(ip),
            HbaAddressKind.SameHost => isLocalAddress?.Invoke(ip) ?? false,
            HbaAddressKind.SameNet => isLocalNetwork?.Invoke(ip) ?? false,
            _ => HostNameMatches(address.HostName!, ip),
        };
    }

    /// <summary>The server's rule: the address's reverse name matches (a leading dot matches a suffix), and that name resolves back to the address.</summary>
    private bool HostNameMatches(string pattern, IPAddress ip)
    {
        if (reverseName?.Invoke(ip) is not { } name)
        {
            return false;
        }

        name = name.ToLowerInvariant();
        return pattern.StartsWith('.') ? name.EndsWith(pattern, StringComparison.Ordinal) : name == pattern;
    }
}
