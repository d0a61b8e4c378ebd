// PgBinaries.cs: where PostgreSQL 15's server programs are.
namespace ConMgr.Testing;

public static class PgBinaries
{
    /// <summary>Overridable with PG_BINDIR; defaults to Debian's PostgreSQL 15 location.</summary>
    public static string Directory { get; } = Environment.GetEnvironmentVariable("PG_BINDIR") is { Length: > 0 } dir ? dir : "/usr/lib/postgresql/15/bin";

    public static string Path(string program) => System.IO.Path.Combine(Directory, program);
}
