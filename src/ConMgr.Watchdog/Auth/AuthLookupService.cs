// AuthLookupService.cs: answers conmgr's authentication lookups (protocol 1.4) from pg_authid, on a third SQL connection opened when first needed.
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Heartbeat;
using ConMgr.Watchdog.Diagnostics;
using ConMgr.Watchdog.Instance;
using Npgsql;

namespace ConMgr.Watchdog.Auth;

/// <summary>
/// One lookup at a time, in arrival order, on a connection of its own (so a slow catalog probe
/// never delays beats or attribute checks): the query is fixed, the role and group names its
/// only parameters. At most <see cref="MaxWaiting"/> lookups wait; beyond that one is answered
/// Failed at once, never queued without bound. Every answer is counted by status
/// (watchdog.auth_lookups); refusals are logged, rate-limited. Whatever conmgr may not have gets a
/// mock SCRAM secret whose salt is a keyed hash of the name (<see cref="MockSecret"/>), so that an
/// exchange tells a client nothing about which roles exist.
/// </summary>
public sealed class AuthLookupService : IAsyncDisposable
{
    /// <summary>Lookups waiting for the connection; more are answered Failed at once.</summary>
    public const int MaxWaiting = 1024;

    /// <summary>The bound on one lookup query (conmgr's own deadline, preauth_lookup_timeout, is usually shorter).</summary>
    public static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Iterations of a mock secret: PostgreSQL's default (scram_iterations).</summary>
    public const int MockIterations = 4096;

    private const string Query = """
        with recursive
          r as (select oid, rolname, rolsuper, rolcanlogin, rolpassword, coalesce(rolvaliduntil < now(), false) as expired
                from pg_catalog.pg_authid where rolname = $1),
          m(oid) as (select oid from r union select a.roleid from pg_catalog.pg_auth_members a join m on a.member = m.oid),
          names as (select p.rolname::text as name from m join pg_catalog.pg_authid p on p.oid = m.oid)
        select r.rolsuper, r.rolcanlogin, r.rolpassword, r.expired,
               array(select g.name in (select name from names) from unnest($2::text[]) with ordinality as g(name, i) order by g.i),
               (cardinality($3::text[]) = 0 and cardinality($4::text[]) = 0)
                 or r.rolname = any($3::text[])
                 or exists (select 1 from names where name = any($4::text[]))
        from r
        """;

    private readonly Channel<(AuthLookupFrame Request, Action<AuthLookupAnswerFrame> Answer)> _waiting =
        Channel.CreateBounded<(AuthLookupFrame, Action<AuthLookupAnswerFrame>)>(new BoundedChannelOptions(MaxWaiting) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly PersistentConnection _connection;
    private readonly AuthLookupPolicy _policy;
    private readonly byte[] _mockKey;
    private readonly ServerLog _log;
    private readonly RateLimitedLog _refusals;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _worker;

    public AuthLookupService(InstanceConnection instance, AuthLookupPolicy policy, byte[] mockKey, ServerLog log, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(instance);
        _connection = new PersistentConnection(instance, "cm_watchdog auth lookup");
        _policy = policy;
        _mockKey = mockKey;
        _log = log;
        _refusals = new RateLimitedLog(log, time, 20, TimeSpan.FromSeconds(10), "authentication lookup refusals");
        _worker = Task.Run(RunAsync);
    }

    /// <summary>The policy, for the start-up line.</summary>
    public AuthLookupPolicy Policy => _policy;

    /// <summary>
    /// Queues <paramref name="request"/>; <paramref name="answer"/> is called once, from the worker
    /// (or at once, Failed, when too many wait). Never blocks: it runs on the heartbeat thread.
    /// </summary>
    public void Enqueue(AuthLookupFrame request, Action<AuthLookupAnswerFrame> answer)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(answer);
        if (!_waiting.Writer.TryWrite((request, answer)))
        {
            answer(Counted(Failed(request), $"{MaxWaiting} lookups are already waiting"));
        }
    }

    /// <summary>The answer for a link that is not authenticated by a verified certificate: no secret, ever, on it.</summary>
    public AuthLookupAnswerFrame RefuseOnLink(AuthLookupFrame request, string peer)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Counted(new AuthLookupAnswerFrame(request.RequestId, AuthLookupStatus.RefusedLink, false, false, 0, MockSecret(request.Role)), $"lookup of role \"{request.Role}\" from conmgr {peer} refused: its link is not authenticated by a verified client certificate (watchdog.ssl_ca_file)");
    }

    /// <summary>
    /// What to answer for one row of the lookup query (null row: no such role). Pure, so every
    /// status is tested without a server.
    /// </summary>
    public static AuthLookupAnswerFrame Judge(AuthLookupFrame request, LookupRow? row, AuthLookupPolicy policy, byte[] mockKey)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(policy);
        // The mock is made only for an answer that carries one: a found role needs no HMAC and no random keys.
        string Mock() => MockSecret(request.Role, mockKey);
        if (row is not { } r)
        {
            return new(request.RequestId, AuthLookupStatus.NoSuchRole, false, false, 0, Mock());
        }

        var membership = Membership(r.Members);
        if ((r.Superuser && !policy.Superuser) || !r.Allowed)
        {
            return new(request.RequestId, AuthLookupStatus.Refused, r.Superuser, r.CanLogin, membership, Mock());
        }

        if (r.Expired)
        {
            return new(request.RequestId, AuthLookupStatus.Expired, r.Superuser, r.CanLogin, membership, Mock());
        }

        var usable = r.Password is { } password
            && (password.StartsWith("SCRAM-SHA-256$", StringComparison.Ordinal) || (policy.Md5 && IsMd5(password)))
            && Encoding.UTF8.GetByteCount(password) <= AuthLookupAnswerFrame.MaxSecretBytes;
        return usable
            ? new(request.RequestId, AuthLookupStatus.Found, r.Superuser, r.CanLogin, membership, r.Password!)
            : new(request.RequestId, AuthLookupStatus.NoPassword, r.Superuser, r.CanLogin, membership, Mock());
    }

    /// <summary>
    /// A SCRAM secret for a name conmgr must not learn about: the salt is HMAC(key, name), so the
    /// same name always shows the same salt (as PostgreSQL's scram_mock_salt), and the keys are random.
    /// </summary>
    public static string MockSecret(string role, byte[] mockKey)
    {
        ArgumentNullException.ThrowIfNull(role);
        var salt = HMACSHA256.HashData(mockKey, Encoding.UTF8.GetBytes(role))[..16];
        return $"SCRAM-SHA-256${MockIterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}:{Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))}";
    }

    public async ValueTask DisposeAsync()
    {
        _waiting.Writer.TryComplete();
        await _stop.CancelAsync();
        try
        {
            await _worker;
        }
        catch (OperationCanceledException)
        {
        }

        await _connection.DisposeAsync();
        _refusals.Dispose();
        _stop.Dispose();
    }

    private string MockSecret(string role) => MockSecret(role, _mockKey);

    private static bool IsMd5(string password) => password.Length == 35 && password.StartsWith("md5", StringComparison.Ordinal);

    private static ushort Membership(bool[] members)
    {
        var bits = 0;
        for (var i = 0; i < members.Length && i < 16; i++)
        {
            bits |= members[i] ? 1 << i : 0;
        }

        return (ushort)bits;
    }

    private async Task RunAsync()
    {
        await foreach (var (request, answer) in _waiting.Reader.ReadAllAsync(_stop.Token))
        {
            AuthLookupAnswerFrame result;
            string? why = null;
            try
            {
                var row = await QueryAsync(request);
                result = Judge(request, row, _policy, _mockKey);
                why = result.Status == AuthLookupStatus.Refused
                    ? $"lookup of role \"{request.Role}\" refused by policy: {(result.Superuser && !_policy.Superuser ? "a superuser (watchdog.auth_lookup_superuser = off)" : "not in watchdog.auth_lookup_roles")}"
                    : null;
            }
            catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException or TimeoutException or OperationCanceledException && !_stop.IsCancellationRequested)
            {
                await _connection.DropAsync();
                result = Failed(request);
                why = $"lookup of role \"{request.Role}\" failed: {ex.Message}";
            }

            answer(Counted(result, why));
        }
    }

    private async Task<LookupRow?> QueryAsync(AuthLookupFrame request)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(QueryTimeout);
        var connection = await _connection.GetAsync(timeout.Token);
        await using var command = new NpgsqlCommand(Query, connection);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, Value = request.Role });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text, Value = request.Groups.ToArray() });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text, Value = _policy.Names });
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text, Value = _policy.Groups });

        // Prepared once per connection (Npgsql keeps it by its text): the recursive query is planned once, not per login.
        await command.PrepareAsync(timeout.Token);
        await using var reader = await command.ExecuteReaderAsync(timeout.Token);
        if (!await reader.ReadAsync(timeout.Token))
        {
            return null;
        }

        return new LookupRow(
            reader.GetBoolean(0),
            reader.GetBoolean(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.GetBoolean(3),
            reader.GetFieldValue<bool[]>(4),
            reader.GetBoolean(5));
    }

    private AuthLookupAnswerFrame Counted(AuthLookupAnswerFrame answer, string? why)
    {
        WatchdogMetrics.RecordLookup(answer.Status);
        if (why is not null)
        {
            _refusals.Log(why);
        }

        return answer;
    }

    private AuthLookupAnswerFrame Failed(AuthLookupFrame request) =>
        new(request.RequestId, AuthLookupStatus.Failed, false, false, 0, MockSecret(request.Role));
}

/// <summary>One row of the lookup query: the role's flags, its rolpassword, its membership of each asked group, and whether the policy's role list allows it.</summary>
public readonly record struct LookupRow(bool Superuser, bool CanLogin, string? Password, bool Expired, bool[] Members, bool Allowed);
