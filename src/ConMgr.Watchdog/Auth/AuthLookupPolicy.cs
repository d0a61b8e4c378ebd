// AuthLookupPolicy.cs: which roles' secrets the watchdog hands to conmgr (watchdog.auth_lookup_roles, _superuser, _md5).
namespace ConMgr.Watchdog.Auth;

/// <summary>
/// By default every role that can log in and is not a superuser may be looked up, and only SCRAM
/// secrets are handed out: nothing to switch on besides mutual TLS on the heartbeat link.
/// <see cref="Roles"/> (watchdog.auth_lookup_roles) narrows that to the roles listed and the
/// members of the <c>+group</c>s listed; <see cref="Superuser"/> (watchdog.auth_lookup_superuser)
/// widens it to superusers; <see cref="Md5"/> (watchdog.auth_lookup_md5) adds md5 hashes, which are
/// a login in themselves for the md5 method.
/// </summary>
public sealed record AuthLookupPolicy(IReadOnlyList<string> Roles, bool Superuser, bool Md5)
{
    public static readonly AuthLookupPolicy Default = new([], Superuser: false, Md5: false);

    /// <summary>Role names of <see cref="Roles"/> (the entries without a leading +).</summary>
    public string[] Names => [.. Roles.Where(r => !r.StartsWith('+'))];

    /// <summary>Group names of <see cref="Roles"/> (the entries with a leading +, without it).</summary>
    public string[] Groups => [.. Roles.Where(r => r.StartsWith('+')).Select(r => r[1..])];

    /// <summary>
    /// watchdog.auth_lookup_roles as PostgreSQL's list syntax gives it (comma-separated, an entry
    /// in double quotes keeps its case and commas).
    /// </summary>
    /// <exception cref="FormatException">An empty entry or an unterminated quote.</exception>
    public static IReadOnlyList<string> ParseRoles(string? text)
    {
        var roles = new List<string>();
        if (string.IsNullOrWhiteSpace(text))
        {
            return roles;
        }

        var at = 0;
        while (true)
        {
            while (at < text.Length && char.IsWhiteSpace(text[at]))
            {
                at++;
            }

            var plus = at < text.Length && text[at] == '+';
            if (plus)
            {
                at++;
            }

            string name;
            if (at < text.Length && text[at] == '"')
            {
                var builder = new System.Text.StringBuilder();
                at++;
                while (true)
                {
                    if (at >= text.Length)
                    {
                        throw new FormatException($"invalid value for parameter \"watchdog.auth_lookup_roles\": unterminated quoted name in \"{text}\"");
                    }

                    if (text[at] == '"' && at + 1 < text.Length && text[at + 1] == '"')
                    {
                        builder.Append('"');
                        at += 2;
                    }
                    else if (text[at] == '"')
                    {
                        at++;
                        break;
                    }
                    else
                    {
                        builder.Append(text[at++]);
                    }
                }

                name = builder.ToString();
            }
            else
            {
                var end = text.IndexOf(',', at);
                name = (end < 0 ? text[at..] : text[at..end]).Trim().ToLowerInvariant();
                at = end < 0 ? text.Length : end;
            }

            if (name.Length == 0)
            {
                throw new FormatException($"invalid value for parameter \"watchdog.auth_lookup_roles\": empty role name in \"{text}\"");
            }

            roles.Add(plus ? "+" + name : name);
            while (at < text.Length && char.IsWhiteSpace(text[at]))
            {
                at++;
            }

            if (at >= text.Length)
            {
                return roles;
            }

            if (text[at] != ',')
            {
                throw new FormatException($"invalid value for parameter \"watchdog.auth_lookup_roles\": expected a comma after \"{name}\" in \"{text}\"");
            }

            at++;
        }
    }

    public string Describe() =>
        (Roles.Count == 0 ? "every non-superuser login role" : $"watchdog.auth_lookup_roles: {string.Join(", ", Roles)}")
        + (Superuser ? ", superusers too" : string.Empty)
        + (Md5 ? ", md5 hashes too" : ", SCRAM secrets only");
}
