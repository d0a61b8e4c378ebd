// PooledStartup.cs: a client's startup message split into what a pooled server connection is logged in with (the pool's key) and what is SET on it for the client.
using System.Collections.Frozen;
using System.Text;
using ConMgr.Daemon.Proxy;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Pooling;

/// <summary>
/// Which startup parameters can move between server connections. A parameter a client may SET
/// at any time (a user-context GUC) is applied with SET when the client lands on a server
/// connection whose value differs, so clients that differ only in those share a pool. Every other
/// parameter (<c>options</c>, backend-only GUCs, anything unknown) goes into the server's startup
/// message and into the pool's key: clients that send different ones never share a server
/// connection. The list is short and explicit on purpose: a name missing from it costs sharing,
/// never correctness.
/// </summary>
public sealed class PooledStartup
{
    /// <summary>User-context GUCs drivers send at startup (libpq, pgjdbc, Npgsql, psycopg, node-postgres), with the server's spelling.</summary>
    public static readonly FrozenDictionary<string, string> Movable = new[]
    {
        "application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone", "extra_float_digits",
        "search_path", "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
        "default_transaction_isolation", "default_transaction_read_only", "default_transaction_deferrable",
        "bytea_output", "standard_conforming_strings", "geqo", "jit", "work_mem", "timezone_abbreviations",
    }.ToFrozenDictionary(name => name, name => name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Movable parameters the server reports (GUC_REPORT): a client's change to one is read from ParameterStatus and carried to its next server.</summary>
    public static readonly FrozenSet<string> Reported = new[]
    {
        "application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone", "default_transaction_read_only",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private PooledStartup(PoolKey key, StartupMessage server, IReadOnlyDictionary<string, string> settings, IReadOnlyList<string> unsupportedOptions, int requestedMinorVersion)
    {
        RequestedMinorVersion = requestedMinorVersion;
        Key = key;
        Server = server;
        Settings = settings;
        UnsupportedOptions = unsupportedOptions;
    }

    public PoolKey Key { get; }

    /// <summary>The protocol's minor version the client asked for (3.2 from libpq 18); the pooled session speaks 3.0 and says so.</summary>
    public int RequestedMinorVersion { get; }

    /// <summary>The startup message a new server connection of the pool is opened with.</summary>
    public StartupMessage Server { get; }

    /// <summary>The movable parameters the client asked for, by the server's spelling of their names.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; }

    /// <summary>Protocol options (<c>_pq_.</c>) the client asked for: the server supports none, and neither does conmgr.</summary>
    public IReadOnlyList<string> UnsupportedOptions { get; }

    /// <param name="server">The message the server would get without pooling (the read-only port's parameter already added).</param>
    public static PooledStartup Split(StartupMessage server, ProxyPort port, int instanceIndex)
    {
        ArgumentNullException.ThrowIfNull(server);
        var fixedPairs = new List<StartupParameter>();
        var settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var unsupported = new List<string>();
        var user = string.Empty;
        string? database = null;
        foreach (var pair in server.Pairs)
        {
            var name = pair.NameText;
            if (name.StartsWith("_pq_.", StringComparison.Ordinal))
            {
                unsupported.Add(name);
                continue;
            }

            if (name == "user")
            {
                user = Auth.Preauthenticator.RoleName(pair.ValueText);
            }
            else if (name == "database")
            {
                database = pair.ValueText;
            }
            else if (Movable.TryGetValue(name, out var spelling))
            {
                // A later pair wins, as in the server's startup processing.
                settings[spelling] = pair.ValueText;
                continue;
            }

            fixedPairs.Add(pair);
        }

        database = string.IsNullOrEmpty(database) ? user : database;
        var fingerprint = new StringBuilder();
        foreach (var pair in fixedPairs.Where(p => p.NameText is not ("user" or "database")).OrderBy(p => p.NameText, StringComparer.Ordinal))
        {
            // Length-prefixed, so no two different sets of pairs give one text.
            fingerprint.Append(pair.Name.Length).Append(':').Append(pair.NameText).Append('=').Append(pair.Value.Length).Append(':').Append(pair.ValueText).Append(';');
        }

        var key = new PoolKey(port, instanceIndex, database, user, fingerprint.ToString());
        return new PooledStartup(key, new StartupMessage(StartupCodes.ProtocolVersion3, fixedPairs), settings, unsupported, server.MinorVersion);
    }
}

/// <summary>Server connections are shared by clients with the same key: the same port, instance, database and role, and the same fixed startup parameters.</summary>
public sealed record PoolKey(ProxyPort Port, int InstanceIndex, string Database, string User, string Fixed)
{
    public override string ToString() => $"{Port.Name()} port, instance index {InstanceIndex}, database \"{Database}\", user \"{User}\"";
}
