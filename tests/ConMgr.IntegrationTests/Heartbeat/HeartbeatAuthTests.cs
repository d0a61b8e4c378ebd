// HeartbeatAuthTests.cs: the authenticated heartbeat: mutual TLS and the shared secret come up; every kind of stranger is refused, says why, and is never counted.
using System.Text;
using ConMgr.Testing;
using static ConMgr.IntegrationTests.Heartbeat.HeartbeatSettings;

namespace ConMgr.IntegrationTests.Heartbeat;

public sealed class HeartbeatAuthTests
{
    private const string Rows = "select count(*) from pgx_stat_watchdog";

    [Fact]
    public async Task Mutual_tls_comes_up_and_peers_without_a_valid_certificate_or_without_tls_are_refused_uncounted_with_the_reason_in_status()
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await StartClusterAsync(auth.WatchdogTls());
        await using var good = await StartConmgrAsync(cluster, auth.ConmgrTls());
        await good.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the mutual-TLS link");
        await WaitOneRowAsync(cluster);

        // Each stranger keeps trying and says why in status; none of them ever shows in pgx_stat_watchdog.
        (string Lines, string Error)[] strangers =
        [
            (auth.ConmgrTls(client: auth.Stranger), "connection closed by the watchdog during the handshake"),
            (auth.ConmgrTls(withClient: false), "connection closed by the watchdog during the handshake"),
            (auth.ConmgrTls(roots: auth.Other.CaFile), "TLS handshake with the watchdog failed: the certificate \"CN=127.0.0.1\" is not signed by a trusted certificate authority"),
            (string.Empty, "refused by the watchdog: this watchdog accepts TLS connections only (watchdog.ssl = require)"),
        ];
        foreach (var (lines, error) in strangers)
        {
            await using var stranger = await StartConmgrAsync(cluster, lines);
            await stranger.WaitInstanceAsync(0, i => i.LastError is not null && i.LastError.Contains(error, StringComparison.Ordinal), Deadline, $"last_error \"{error}\"");
            Assert.NotEqual("up", (await stranger.StatusAsync()).Instances[0].Heartbeat);
            Assert.Equal(1, await cluster.Primary.ScalarAsync<long>(Rows));
        }

        var log = await File.ReadAllTextAsync(cluster.Primary.LogFile);
        Assert.Contains("refused: TLS handshake failed: client certificate refused: the certificate \"CN=conmgr\" is not signed by a trusted certificate authority", log, StringComparison.Ordinal);
        Assert.Contains("refused: TLS handshake failed: client certificate refused: no certificate was presented", log, StringComparison.Ordinal);
        Assert.DoesNotContain(" lost: ", log, StringComparison.Ordinal);
        Assert.Equal("up", (await good.StatusAsync()).Instances[0].Heartbeat);
    }

    [Fact]
    public async Task Watchdog_conmgr_names_narrows_the_ca_to_the_listed_subjects()
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");

        // conmgr's certificate is CN=conmgr, DNS conmgr.example: a list without it refuses it, one naming its DNS name admits it.
        await using (var narrow = await StartClusterAsync([.. auth.WatchdogTls(), "watchdog.conmgr_names = 'app1.example, app2.example'"]))
        {
            await using var refused = await StartConmgrAsync(narrow, auth.ConmgrTls());
            await refused.WaitInstanceAsync(0, i => i.LastError is not null && i.LastError.Contains("connection closed by the watchdog during the handshake", StringComparison.Ordinal), Deadline, "the refusal of a certificate not listed");
            await Poll.UntilAsync(
                async () => (await File.ReadAllTextAsync(narrow.Primary.LogFile)).Contains("refused: certificate \"CN=conmgr\" is not one of watchdog.conmgr_names", StringComparison.Ordinal),
                Deadline,
                "the watchdog's refusal line");
            Assert.Equal(0, await narrow.Primary.ScalarAsync<long>(Rows));
        }

        await using var listed = await StartClusterAsync([.. auth.WatchdogTls(), "watchdog.conmgr_names = 'app1.example, CONMGR.example'"]);
        await using var admitted = await StartConmgrAsync(listed, auth.ConmgrTls());
        await admitted.WaitInstanceAsync(0, i => i.Heartbeat == "up", Deadline, "the listed certificate's link");
    }

    [Fact]
    public async Task A_shared_secret_comes_up_and_a_wrong_or_missing_secret_or_an_old_hello_is_refused_before_it_is_counted()
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await StartClusterAsync(auth.WatchdogSecret);
        await using var good = await StartConmgrAsync(cluster, auth.ConmgrSecret());
        await good.WaitInstanceAsync(0, i => i.Heartbeat == "up" && i.Role == "primary", Deadline, "the shared-secret link");
        await WaitOneRowAsync(cluster);

        (string Lines, string Error)[] strangers =
        [
            (auth.ConmgrSecret(wrong: true), "refused by the watchdog: authentication failed: the proof does not match this watchdog's secret (watchdog.secret_file)"),
            (string.Empty, "the watchdog requires a shared secret (watchdog.secret_file) and heartbeat_secret_file is not set"),
        ];
        foreach (var (lines, error) in strangers)
        {
            await using var stranger = await StartConmgrAsync(cluster, lines);
            await stranger.WaitInstanceAsync(0, i => i.LastError is not null && i.LastError.Contains(error, StringComparison.Ordinal), Deadline, $"last_error \"{error}\"");
            Assert.Equal(1, await cluster.Primary.ScalarAsync<long>(Rows));
        }

        // A protocol 1.1 Hello cannot answer a challenge: refused with the reason, not left to time out.
        using (var old = await PgWire.ConnectAsync("127.0.0.1", cluster.Primary.WatchdogPort))
        {
            await old.SendAsync(RawFrames.Hello(200, 1000, 7));
            var refusal = await old.ReadMessageAsync(Deadline);
            Assert.Equal('R', refusal!.Type);
            Assert.StartsWith("this watchdog requires authentication (protocol 1.3", Encoding.UTF8.GetString(refusal.Body), StringComparison.Ordinal);
        }

        // The secret never crosses the wire: what a 1.3 peer sees is a fresh 32-byte nonce, different each time.
        var nonces = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            using var peer = await PgWire.ConnectAsync("127.0.0.1", cluster.Primary.WatchdogPort);
            await peer.SendAsync(RawFrames.Hello(200, 1000, 9, minor: 3));
            var challenge = await peer.ReadMessageAsync(Deadline);
            Assert.Equal('C', challenge!.Type);
            Assert.Equal(32, challenge.Body.Length);
            nonces.Add(Convert.ToHexString(challenge.Body));
            Assert.DoesNotContain(Convert.ToHexString(Encoding.UTF8.GetBytes(File.ReadAllText(auth.SecretFile).Trim())), nonces[i], StringComparison.Ordinal);
        }

        Assert.NotEqual(nonces[0], nonces[1]);
        Assert.Equal(1, await cluster.Primary.ScalarAsync<long>(Rows));
        Assert.DoesNotContain(" lost: ", await File.ReadAllTextAsync(cluster.Primary.LogFile), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_conmgr_with_a_secret_refuses_a_watchdog_that_cannot_prove_it()
    {
        using var auth = await HeartbeatAuthSetup.CreateAsync("127.0.0.1");
        await using var cluster = await StartClusterAsync([PgCluster.Unauthenticated]);
        await using var node = await StartConmgrAsync(cluster, auth.ConmgrSecret());
        await node.WaitInstanceAsync(0, i => i.LastError is not null && i.LastError.Contains("the watchdog did not prove the shared secret", StringComparison.Ordinal), Deadline, "the refusal of an unauthenticated watchdog");
        Assert.NotEqual("up", (await node.StatusAsync()).Instances[0].Heartbeat);
    }

    private static async Task<PgCluster> StartClusterAsync(string[] watchdogSettings)
    {
        var cluster = await PgCluster.StartAsync(new PgClusterOptions
        {
            Standbys = 0,
            Watchdog = WatchdogMode.Launcher,
            CheckAttrIntervalMs = CheckAttrIntervalMs,
            ExtraSettings = watchdogSettings,
        });
        await cluster.Primary.ExecuteAsync("create extension watchdog");
        return cluster;
    }

    /// <summary>The good conmgr's row (the status file is written when the registry changes, a moment after the link is up).</summary>
    private static Task<TimeSpan> WaitOneRowAsync(PgCluster cluster) =>
        Poll.UntilAsync(async () => await cluster.Primary.ScalarAsync<long>(Rows) == 1, Deadline, "the authenticated conmgr in pgx_stat_watchdog");

    private static async Task<ConMgrNode> StartConmgrAsync(PgCluster cluster, string lines)
    {
        var node = await ConMgrNode.CreateAsync(ConmgrLines + lines + ConMgrNode.InstanceLines(cluster));
        await node.StartAsync("-W");
        return node;
    }
}
