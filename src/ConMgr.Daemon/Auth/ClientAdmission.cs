// ClientAdmission.cs: preauth's rules as they are now (conmgr_hba.conf, replaced whole on SIGHUP) and the verdict they give a proxy client.
using ConMgr.Configuration;
using ConMgr.Configuration.Hba;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Auth;

/// <summary>
/// With <c>preauth = on</c>, every proxy client is matched against conmgr_hba.conf before a
/// server connection is opened for it: no matching line, or a matching <c>reject</c> line, gets
/// PostgreSQL's FATAL 28000 and costs no backend. The file is read at start (a bad one stops
/// conmgr) and again on SIGHUP, where a bad one keeps the rules in force and says why, as the
/// postmaster does with pg_hba.conf.
/// <para>
/// <c>+group</c> membership comes with the secret lookup from the routed instance (at most
/// <see cref="AuthLookupFrame.MaxGroups"/> distinct groups in a file). Rules whose meaning needs
/// DNS or the host's interfaces (<c>samerole</c>, host names, <c>samehost</c>, <c>samenet</c>) are
/// refused at load, never matched as if they were false: a line that cannot be evaluated must not
/// let a client fall through to a more permissive one.
/// </para>
/// </summary>
public sealed class ClientAdmission
{
    private readonly string _path;
    private readonly string? _identPath;
    private Rules _rules;

    private ClientAdmission(string path, string? identPath, Rules rules)
    {
        _path = path;
        _identPath = identPath;
        _rules = rules;
    }

    /// <summary>The user name maps in force (ident_file), read and reloaded with the rules.</summary>
    public IdentFile Ident => Volatile.Read(ref _rules).Ident;

    /// <summary>The distinct +group names of the rules in force: a lookup asks about each of them.</summary>
    public IReadOnlyList<string> Groups => Volatile.Read(ref _rules).Groups;

    /// <summary>The rules of <paramref name="path"/>.</summary>
    /// <exception cref="ConfigException">The file cannot be read, has a bad line, or one conmgr cannot evaluate.</exception>
    /// <param name="identPath">ident_file (maps for map=); a missing file holds no maps.</param>
    public static ClientAdmission Load(string path, string? identPath = null) => new(path, identPath, Read(path, identPath));

    /// <summary>SIGHUP: the file again, applied whole or not at all.</summary>
    public void Reload(ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        try
        {
            Volatile.Write(ref _rules, Read(_path, _identPath));
            log.Log($"reloaded \"{_path}\"" + (_identPath is null ? string.Empty : $" and \"{_identPath}\""));
        }
        catch (ConfigException ex)
        {
            log.Log($"{ex.Message}\n\"{_path}\" was not reloaded: the rules (and maps) loaded before stay in force");
        }
    }

    /// <summary>
    /// The first matching line (its method says what happens next), or the error the client gets.
    /// <paramref name="membership"/>: bit i set when the role is a member of <see cref="Groups"/>[i]
    /// (from the lookup); null before any lookup, when the rules name no group.
    /// </summary>
    public (HbaRule? Rule, ErrorResponse? Error) Decide(ApplicationConnection connection, StartupMessage startup, ushort? membership, IReadOnlyList<string>? groups = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        var rules = Volatile.Read(ref _rules);
        var asked = groups ?? rules.Groups;
        var user = startup.GetParameter("user") ?? string.Empty;
        var database = startup.GetParameter("database") is { Length: > 0 } named ? named : user;
        var ssl = connection.Tls is not null;
        var host = connection.IsLocal ? "[local]" : connection.Remote?.Address.ToString() ?? "unknown";
        var client = new HbaClient(connection.IsLocal, ssl, connection.Remote?.Address, database, user);
        bool IsMember(string role, string group)
        {
            var at = -1;
            for (var i = 0; i < asked.Count; i++)
            {
                at = asked[i] == group ? i : at;
            }

            return membership is { } bits && at >= 0 && (bits & (1 << at)) != 0;
        }

        return new HbaMatcher(rules.File, IsMember).Match(client) switch
        {
            null => (null, ClientErrors.NoHbaEntry(host, user, database, ssl)),
            { Method: HbaMethod.Reject } => (null, ClientErrors.HbaRejects(host, user, database, ssl)),
            var rule => (rule, null),
        };
    }

    private static Rules Read(string path, string? identPath)
    {
        var ident = identPath is null ? IdentFile.Empty : IdentFile.Load(identPath);
        var file = HbaFile.Load(path);
        var groups = new List<string>();
        foreach (var rule in file.Rules)
        {
            var unsupported = rule.Databases.Any(t => t.IsKeyword("samerole") || t.IsKeyword("samegroup")) ? "samerole"
                : rule.Address.Kind is HbaAddressKind.HostName or HbaAddressKind.SameHost or HbaAddressKind.SameNet ? "a host name, samehost or samenet address"
                : null;
            if (unsupported is not null)
            {
                throw new ConfigException(rule.File, rule.LineNumber, null, $"{unsupported} cannot be evaluated by conmgr (it needs the host's interfaces or DNS)\nline: {rule.LineText.Trim()}");
            }

            foreach (var group in rule.Roles.Where(t => t.IsGroup).Select(t => t.Text[1..]).Where(g => !groups.Contains(g)))
            {
                if (groups.Count == AuthLookupFrame.MaxGroups || System.Text.Encoding.UTF8.GetByteCount(group) > AuthLookupFrame.MaxNameBytes)
                {
                    throw new ConfigException(rule.File, rule.LineNumber, null, $"at most {AuthLookupFrame.MaxGroups} distinct +group names of at most {AuthLookupFrame.MaxNameBytes} bytes can be used (membership is looked up with each login)\nline: {rule.LineText.Trim()}");
                }

                groups.Add(group);
            }
        }

        return new Rules(file.Rules, groups, ident);
    }

    private sealed record Rules(IReadOnlyList<HbaRule> File, IReadOnlyList<string> Groups, IdentFile Ident);
}
