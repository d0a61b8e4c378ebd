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

    /// <summary>
    /// Start phase two beside phase one when an entry's conmgr last named an instance as the only
    /// eligible one for the target (default true). The connection is kept only if conmgr names
    /// that instance again; after a role change or failover, one server connection is started and
    /// closed unused.
    /// False: strictly one phase after the other.
    /// </summary>
    public bool OpenEarly { get; set; } = true;

    public ConMgrDataSource Build()
    {
        if (string.IsNullOrEmpty(ConnectionStringBuilder.Host))
        {
            throw new ArgumentException("the connection string names no Host");
        }

        return new ConMgrDataSource(new NpgsqlConnectionStringBuilder(ConnectionStringBuilder.ConnectionString), OpenEarly);
    }
}
