// ConMgrDataSourceBuilder.cs: builds a ConMgrDataSource from an Npgsql connection string whose host list may mix conmgr and postmasters.
using Npgsql;

namespace ConMgr.Client;

/// <summary>
/// Like <see cref="NpgsqlDataSourceBuilder"/>: start from a connection string, adjust
/// <see cref="ConnectionStringBuilder"/>, then <see cref="Build"/>. <c>Host</c> lists conmgr and
/// PostgreSQL addresses, tried in order; <c>Target Session Attributes</c> is what conmgr is asked
/// for (and what Npgsql checks on a direct postmaster entry).
/// </summary>
public sealed class ConMgrDataSourceBuilder
{
    public ConMgrDataSourceBuilder(string connectionString) =>
        ConnectionStringBuilder = new NpgsqlConnectionStringBuilder(connectionString ?? throw new ArgumentNullException(nameof(connectionString)));

    public NpgsqlConnectionStringBuilder ConnectionStringBuilder { get; }

    public ConMgrDataSource Build()
    {
        if (string.IsNullOrEmpty(ConnectionStringBuilder.Host))
        {
            throw new ArgumentException("the connection string names no Host");
        }

        return new ConMgrDataSource(new NpgsqlConnectionStringBuilder(ConnectionStringBuilder.ConnectionString));
    }
}
