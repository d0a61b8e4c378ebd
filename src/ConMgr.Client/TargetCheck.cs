// TargetCheck.cs: libpq's target_session_attrs check for a PostgreSQL server connected to directly.
using ConMgr.Protocol.Postgres;
using Npgsql;

namespace ConMgr.Client;

/// <summary>How a directly connected server fits the requested target.</summary>
internal enum TargetFit
{
    Match,

    /// <summary>Not the preferred role, but acceptable for prefer-* if nothing better is found.</summary>
    Fallback,

    NoMatch,
}

/// <summary>
/// For a direct (postmaster) entry of the host list, on every open (a pooled connection's server
/// may have changed role since; PostgreSQL 14+ reports the change, so the check costs nothing). Npgsql refuses a target other than Any with
/// a single host, so the check is done here, as libpq does it: from the <c>in_hot_standby</c> and
/// <c>default_transaction_read_only</c> values the server reports at startup (PostgreSQL 14+), or
/// with one query on older servers.
/// </summary>
internal static class TargetCheck
{
    public static async Task<TargetFit> EvaluateAsync(NpgsqlConnection connection, TargetSessionAttrs target, CancellationToken cancellationToken)
    {
        var (inRecovery, readOnly) = await ReadStateAsync(connection, cancellationToken);
        var primary = !inRecovery;
        return target switch
        {
            TargetSessionAttrs.ReadWrite => primary && !readOnly ? TargetFit.Match : TargetFit.NoMatch,
            TargetSessionAttrs.ReadOnly => inRecovery || readOnly ? TargetFit.Match : TargetFit.NoMatch,
            TargetSessionAttrs.Primary => primary ? TargetFit.Match : TargetFit.NoMatch,
            TargetSessionAttrs.Standby => inRecovery ? TargetFit.Match : TargetFit.NoMatch,
            TargetSessionAttrs.PreferStandby => inRecovery ? TargetFit.Match : TargetFit.Fallback,
            TargetSessionAttrs.PreferPrimary => primary ? TargetFit.Match : TargetFit.Fallback,
            _ => TargetFit.Match,
        };
    }

    private static async Task<(bool InRecovery, bool ReadOnly)> ReadStateAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var reported = connection.PostgresParameters;
        if (reported.TryGetValue("in_hot_standby", out var hotStandby) && reported.TryGetValue("default_transaction_read_only", out var readOnly))
        {
            return (hotStandby == "on", readOnly == "on");
        }

        await using var command = new NpgsqlCommand("select pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on'", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetBoolean(0), reader.GetBoolean(1));
    }
}
