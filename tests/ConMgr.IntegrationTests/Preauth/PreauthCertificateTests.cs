// PreauthCertificateTests.cs: cert lines at conmgr: the client's certificate verified and mapped (conmgr_ident.conf), the server login made with conmgr's backend_sslcert.
using ConMgr.Testing;

namespace ConMgr.IntegrationTests.Preauth;

public sealed class PreauthCertificateTests
{
    [Fact]
    public async Task A_client_certificate_mapped_to_the_user_logs_in_by_conmgrs_backend_certificate_and_a_missing_or_unmapped_one_gets_the_servers_messages()
    {
        CertificateFiles? alice = null;
        CertificateFiles? mallory = null;
        await using var t = await PreauthCluster.StartAsync(
            "hostssl all app 127.0.0.1/32 cert map=people\nhost all all 127.0.0.1/32 reject\n",
            "backend_sslmode = require\n",
            serverTls: true,
            prepare: pki =>
            {
                alice = pki.Issue("alice", "alice", ["alice.example"], client: true);
                mallory = pki.Issue("mallory", "mallory", ["mallory.example"], client: true);
                var backend = pki.Issue("conmgr-backend", "app", ["conmgr.example"], client: true);
                var ident = Path.Combine(pki.Directory, "conmgr_ident.conf");
                File.WriteAllText(ident, "# MAP    SYSTEM-USERNAME  DATABASE-USERNAME\npeople   alice            app\npeople   /^(.*)-admin$    \\1\n");
                return $"ssl_ca_file = '{pki.CaFile}'\nident_file = '{ident}'\nbackend_sslcert = '{backend.Cert}'\nbackend_sslkey = '{backend.Key}'\n";
            });

        // The server takes conmgr's backend certificate (CN=app) for app: its pg_hba.conf says cert for conmgr's address.
        var hba = Path.Combine(t.Primary.DataDirectory, "pg_hba.conf");
        await File.WriteAllTextAsync(hba, "hostssl all app 127.0.0.1/32 cert\n" + await File.ReadAllTextAsync(hba));
        Assert.True(await t.Primary.ScalarAsync<bool>("select pg_reload_conf()"));
        await Poll.UntilAsync(async () => (await PsqlWithAsync(t, alice!)).StandardOutput.Trim() == "app|t", Transparent.TransparentCluster.Deadline, "alice's login through conmgr (after the server's reload)");

        var none = await PreauthCluster.PsqlAsync(t.ReadWritePort, "app", password: null, options: t.VerifiedTls("disable"));
        Assert.Contains("FATAL:  connection requires a valid client certificate", none.Output, StringComparison.Ordinal);

        var unmapped = await PsqlWithAsync(t, mallory!);
        Assert.Contains("FATAL:  certificate authentication failed for user \"app\"", unmapped.Output, StringComparison.Ordinal);
        Assert.Contains("the certificate's name \"mallory\" does not map to user \"app\" in map \"people\"", t.Cluster.Node.Log, StringComparison.Ordinal);
    }

    private static Task<ProcessResult> PsqlWithAsync(PreauthCluster t, CertificateFiles certificate) =>
        PreauthCluster.PsqlAsync(t.ReadWritePort, "app", password: null, options: $"{t.VerifiedTls("disable")} sslcert={certificate.Cert} sslkey={certificate.Key}");
}
