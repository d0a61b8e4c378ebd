// PatroniHealthTests.cs: each Patroni path's answer for a primary, a streaming replica, a lagging one, an unavailable instance, a stuck checker.
using System.Text;
using System.Text.Json;
using ConMgr.Watchdog.Attributes;
using ConMgr.Watchdog.Http;
using static ConMgr.UnitTests.Instances.InstanceRows;

namespace ConMgr.UnitTests.Watchdog;

public sealed class PatroniHealthTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch.AddDays(1);
    private static readonly HealthDetails Streaming = new(Now.AddHours(-1), ReceiveLsn: 100 << 20, UpstreamEndLsn: 100 << 20, "streaming", false);

    private static readonly HealthSnapshot PrimaryNode = new(Primary with { Lsn = 100 << 20 }, HealthDetails.None with { PostmasterStart = Now }, Now, Now, TimeSpan.FromSeconds(1), 2);
    private static readonly HealthSnapshot ReplicaNode = new(Standby with { Lsn = 100 << 20 }, Streaming, Now, Now, TimeSpan.FromSeconds(1), 1);

    /// <summary>Has received all the upstream has, replayed 20 MB less.</summary>
    private static readonly HealthSnapshot LaggingReplica = ReplicaNode with { Attributes = Standby with { Lsn = 80 << 20 } };

    [Theory]
    [InlineData("/primary", 200, 503)]
    [InlineData("/master", 200, 503)]
    [InlineData("/leader", 200, 503)]
    [InlineData("/read-write", 200, 503)]
    [InlineData("/replica", 503, 200)]
    [InlineData("/read-only", 200, 200)]
    [InlineData("/health", 200, 200)]
    [InlineData("/liveness", 200, 200)]
    [InlineData("/readiness", 200, 200)]
    public void Each_path_answers_as_patroni_for_a_primary_and_a_streaming_replica(string path, int onPrimary, int onReplica)
    {
        Assert.Equal(onPrimary, Status(path, PrimaryNode));
        Assert.Equal(onReplica, Status(path, ReplicaNode));
    }

    [Theory]
    [InlineData("lag=16MB", 503)]
    [InlineData("lag=20971520", 200)]
    [InlineData("lag=20971519", 503)]
    [InlineData("lag=1GB", 200)]
    [InlineData("replication_state=streaming", 200)]
    [InlineData("replication_state=catchup", 503)]
    [InlineData("lag=64MB&replication_state=streaming", 200)]
    public void The_replica_path_takes_patronis_lag_and_replication_state(string query, int expected) =>
        Assert.Equal(expected, Status("/replica", LaggingReplica, query));

    [Theory]
    [InlineData("lag=16mb")]
    [InlineData("lag=")]
    [InlineData("lag=-1")]
    [InlineData("lag=99999999999TB")]
    public void A_lag_that_is_not_a_size_is_a_bad_request(string query) => Assert.Equal(400, Status("/replica", ReplicaNode, query));

    [Fact]
    public void A_replica_whose_lag_is_unknown_fails_a_lag_check_and_readiness()
    {
        var cutOff = ReplicaNode with { Details = HealthDetails.None };
        Assert.Equal(200, Status("/replica", cutOff));
        Assert.Equal(503, Status("/replica", cutOff, "lag=1GB"));
        Assert.Equal(503, Status("/readiness", cutOff));
    }

    [Fact]
    public void A_primary_with_default_transaction_read_only_is_primary_but_not_read_write()
    {
        var readOnly = PrimaryNode with { Attributes = PrimaryNode.Attributes with { DefaultTransactionReadOnly = true } };
        Assert.Equal((200, 503), (Status("/primary", readOnly), Status("/read-write", readOnly)));
    }

    [Fact]
    public void An_unavailable_instance_fails_every_path_but_liveness_and_a_stuck_checker_fails_liveness()
    {
        var down = PrimaryNode with { Attributes = ConMgr.Protocol.Heartbeat.InstanceAttributes.Unavailable };
        Assert.All(WatchdogHttpPaths.Paths.Where(p => p != "/liveness"), p => Assert.Equal(503, Status(p, down)));
        Assert.Equal(200, Status("/liveness", down));

        var stuck = PrimaryNode with { Now = Now + TimeSpan.FromSeconds(3) + PatroniHealth.LivenessSlack + TimeSpan.FromMilliseconds(1) };
        Assert.Equal(503, Status("/liveness", stuck));
        Assert.Equal(503, Status("/liveness", PrimaryNode with { LastCheckAt = null }));
    }

    [Fact]
    public void The_body_is_patronis_json()
    {
        using var replica = Body("/replica", LaggingReplica);
        var root = replica.RootElement;
        Assert.Equal(("running", "replica", "streaming"), (root.GetProperty("state").GetString(), root.GetProperty("role").GetString(), root.GetProperty("replication_state").GetString()));
        Assert.Equal(80L << 20, root.GetProperty("xlog").GetProperty("replayed_location").GetInt64());
        Assert.Equal(20L << 20, root.GetProperty("lag_bytes").GetInt64());
        Assert.Equal("42", root.GetProperty("database_system_identifier").GetString());

        using var primary = Body("/primary", PrimaryNode);
        Assert.Equal(100L << 20, primary.RootElement.GetProperty("xlog").GetProperty("location").GetInt64());
        Assert.Equal(2, primary.RootElement.GetProperty("conmgr_peers").GetInt32());
    }

    private static int Status(string path, HealthSnapshot s, string query = "") => PatroniHealth.Answer(path, s, Query(query)).Status;

    private static JsonDocument Body(string path, HealthSnapshot s) => JsonDocument.Parse(Encoding.UTF8.GetString(PatroniHealth.Answer(path, s, Query(string.Empty)).Body.Span));

    private static Dictionary<string, string?> Query(string query) =>
        query.Length == 0 ? [] : query.Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => (string?)p[1]);
}
