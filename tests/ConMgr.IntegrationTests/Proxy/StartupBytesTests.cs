// StartupBytesTests.cs: a startup message's user and database names reach the server as the client's bytes, UTF-8 or not.
using System.Globalization;
using ConMgr.IntegrationTests.Transparent;
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Proxy;

public sealed class StartupBytesTests
{
    [Fact]
    public async Task A_LATIN1_user_and_database_name_that_is_not_UTF8_reaches_the_server_unchanged_through_the_read_write_port()
    {
        var (t, rw, _) = await ProxyCluster.StartAsync(standbys: 0);
        await using var _ = t;

        // Names created from a LATIN1 database are stored in the shared catalog as LATIN1 bytes:
        // "zürich" is z 0xFC r i c h, which is not UTF-8. A proxy that decodes the startup message
        // as UTF-8 and encodes it again sends z EF BF BD r i c h, and the server knows no such database.
        await t.Cluster.Primary.ExecuteAsync("create database latin1 template template0 encoding 'LATIN1' lc_collate 'C' lc_ctype 'C'");
        await t.Cluster.Primary.ExecuteAsync("create database \"zürich\" template template0 encoding 'LATIN1' lc_collate 'C' lc_ctype 'C'", database: "latin1");
        await t.Cluster.Primary.ExecuteAsync("create role \"jörg\" login", database: "latin1");

        // libpq (psql) sends its -U and -d arguments as bytes; bash's $'...' makes the LATIN1 ones.
        var command = $"psql -X -At -h 127.0.0.1 -p {rw.ToString(CultureInfo.InvariantCulture)} -U $'j\\xf6rg' -d $'z\\xfcrich' "
            + "-c \"select octet_length(current_database()), current_database() = 'z' || chr(252) || 'rich', current_user = 'j' || chr(246) || 'rg'\"";
        var psql = await ProcessRunner.RunAsync("bash", ["-c", command], RunAs.Self);
        Assert.True(psql.ExitCode == 0, $"psql through the read-write port: {psql.Output}");
        Assert.Equal("6|t|t", psql.StandardOutput.Trim());
    }
}
