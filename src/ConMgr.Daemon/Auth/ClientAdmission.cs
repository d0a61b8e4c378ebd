// ClientAdmission.cs: preauth's rules as they are now (conmgr_hba.conf, replaced whole on SIGHUP) and the verdict they give a proxy client.
using ConMgr.Configuration;
using ConMgr.Configuration.Hba;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Auth;

/// <summary>
/// With <c>preauth = on</c>, every proxy client is matched against conmgr_hba.conf before a
/// server connection is opened for it: no matching line, or a matching <c>reject</c> line, gets
/// PostgreSQL's FATAL 28000 and costs no backend. The file is read at start (a bad one stops
/// conmgr) and again on SIGHUP, where a bad one keeps the rules in force and says why, as the
/// postmaster does with pg_hba.conf.
/// <para>
/// This stage admits; it does not yet authenticate. A client that a line other than reject
/// admits is authenticated by the server, as without preauth (docs/configuration.md). Rules
/// whose meaning needs the instance or DNS (<c>+group</c>, <c>samerole</c>, host names) are
/// refused at load, never matched as if they were false: a line that cannot be evaluated must not
/// let a client fall through to a more permissive one.
/// </para>
/// </summary>
public sealed class ClientAdmission
{
    private readonly string _path;
    private HbaMatcher _matcher;

    private ClientAdmission(string path, HbaMatcher matcher)
    {
        _path = path;
        _matcher = matcher;
    }

    /// <summary>The rules of <paramref name="path"/>.</summary>
    /// <exception cref="ConfigException">The file cannot be read, has a bad line, or one conmgr cannot evaluate yet.</exception>
    public static ClientAdmission Load(string path) => new(path, Read(path));

    /// <summary>SIGHUP: the file again, applied whole or not at all.</summary>
    public void Reload(ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        try
        {
            Volatile.Write(ref _matcher, Read(_path));
            log.Log($"reloaded \"{_path}\"");
        }
        catch (ConfigException ex)
        {
            log.Log($"{ex.Message}\n\"{_path}\" was not reloaded: the rules loaded before stay in force");
        }
    }

    /// <summary>null when <paramref name="connection"/> may go on to a server; else the error it gets.</summary>
    public ErrorResponse? Refusal(ApplicationConnection connection, StartupMessage startup)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(startup);
        var user = startup.GetParameter("user") ?? string.Empty;
        var database = startup.GetParameter("database") is { Length: > 0 } named ? named : user;
        var ssl = connection.Tls is not null;
        var host = connection.IsLocal ? "[local]" : connection.Remote?.Address.ToString() ?? "unknown";
        var client = new HbaClient(connection.IsLocal, ssl, connection.Remote?.Address, database, user);
        return Volatile.Read(ref _matcher).Match(client) switch
        {
            null => ClientErrors.NoHbaEntry(host, user, database, ssl),
            { Method: HbaMethod.Reject } => ClientErrors.HbaRejects(host, user, database, ssl),
            _ => null,
        };
    }

    private static HbaMatcher Read(string path)
    {
        var file = HbaFile.Load(path);
        foreach (var rule in file.Rules)
        {
            var unsupported = rule.Roles.Any(t => t.IsGroup) ? "a +group role"
                : rule.Databases.Any(t => t.IsKeyword("samerole") || t.IsKeyword("samegroup")) ? "samerole"
                : rule.Address.Kind is HbaAddressKind.HostName or HbaAddressKind.SameHost or HbaAddressKind.SameNet ? "a host name, samehost or samenet address"
                : null;
            if (unsupported is not null)
            {
                throw new ConfigException(rule.File, rule.LineNumber, null, $"{unsupported} cannot be evaluated by this conmgr yet (role membership and address lookups come with preauth's authentication)\nline: {rule.LineText.Trim()}");
            }
        }

        // Membership is never asked: the lines that would ask are refused above.
        return new HbaMatcher(file.Rules, (_, _) => throw new InvalidOperationException("role membership is not evaluated"));
    }
}
