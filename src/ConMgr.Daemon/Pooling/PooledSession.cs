// PooledSession.cs: one client of a pooling proxy port: its login, its reads and writes, and when it takes and gives back a server connection.
using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Daemon.Proxy;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Pooling;

/// <summary>Where a pooled client is.</summary>
public enum PooledClientState
{
    /// <summary>Between transactions (transaction mode): no server connection.</summary>
    Unlinked,

    /// <summary>Waiting for a server connection of its pool.</summary>
    Waiting,

    /// <summary>Linked to a server connection.</summary>
    Linked,

    /// <summary>Ended; its server connection, if any, went back to the pool or was closed.</summary>
    Ended,
}

/// <summary>
/// A client of a pooling port. Two loops: the client's reads (this class's <see cref="RunAsync"/>),
/// which link a server connection before forwarding the first message that needs one, and the
/// linked server's reads (<see cref="PumpAsync"/>), which forward everything to the client and,
/// in transaction mode, give the server back at a ReadyForQuery 'I' when nothing is pending:
/// no Query, Sync or FunctionCall unanswered, no extended-protocol message since the last Sync,
/// no client bytes being forwarded, no cancel on its way, and no pin. Both loops read whole
/// messages where they look inside them and pass the rest through, a message larger than
/// <see cref="MaxWholeMessage"/> in pieces. One lock guards the decisions, and nothing waits
/// under it.
/// </summary>
public sealed partial class PooledSession : IRelay, ICancelTarget, IReroutable, IDisposable
{
    /// <summary>Largest message held whole to be looked into; a longer one passes in pieces (a Query or Parse that long pins, unread).</summary>
    public const int MaxWholeMessage = 1024 * 1024;

    /// <summary>Largest message length word accepted from a client: the server's own limit (PQ_LARGE_MESSAGE_LIMIT).</summary>
    public const int MaxClientMessage = 0x3FFFFFFF;

    private readonly object _gate = new();
    private readonly ApplicationConnection _client;
    private PooledStartup _startup;
    private readonly ServerPoolMode _mode;
    private readonly PoolSettings _settings;
    private readonly ServerPool _pool;
    private ServerOpener _open;
    private bool _rerouteNeeded;
    private readonly CancelKeys _keys;
    private readonly ServerLog _log;
    private readonly SemaphoreSlim _clientWrite = new(1, 1);
    private readonly Stream _clientStream;
    private readonly PipeReader _clientReader;
    private readonly Dictionary<string, string> _told = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stop = new();

    /// <summary>The client's movable settings: its startup parameters, then every reported one it changed since (from ParameterStatus).</summary>
    private readonly Dictionary<string, string> _clientSettings = new(StringComparer.OrdinalIgnoreCase);

    private PooledServer? _server;
    private Task<PumpEnd>? _pump;
    private int _outstanding;
    private bool _unsynced;
    private bool _clientBusy;
    private bool _releaseDeferred;
    private bool _stopping;
    private bool _clientAtBoundary = true;
    private long _clientStreamRemaining;
    private long _serverStreamRemaining;
    private BackendKeyData? _clientKey;

    public PooledSession(ApplicationConnection client, PooledStartup startup, ServerPoolMode mode, PoolSettings settings, ServerPool pool, ServerOpener open, CancelKeys keys, ServerLog log)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _startup = startup;
        _mode = mode;
        _settings = settings;
        _pool = pool;
        _open = open;
        _keys = keys;
        _log = log;
        _clientStream = client.OpenStream();
        foreach (var (name, value) in startup.Settings)
        {
            _clientSettings[name] = value;
        }

        _clientReader = PipeReader.Create(_clientStream, new StreamPipeReaderOptions(pool: MemoryPool<byte>.Shared, bufferSize: 16 * 1024, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true));
    }

    /// <summary>Routes the client again (pool_failover = reroute): its new pool's startup and opener, or the error for the client.</summary>
    public delegate Task<(PooledStartup? Startup, ServerOpener? Open, ErrorResponse? Error)> Rerouter();

    /// <summary>Set by the pool service when pool_failover = reroute applies to this client's port.</summary>
    public Rerouter? Reroute { get; set; }

    /// <inheritdoc/>
    public bool TryReroute()
    {
        lock (_gate)
        {
            if (Reroute is null || _mode != ServerPoolMode.Transaction || _server is not null || State != PooledClientState.Unlinked || Pins != SessionStateUse.None || _stopping)
            {
                return false;
            }

            _rerouteNeeded = true;
            return true;
        }
    }

    /// <summary>Opens and logs in a new server connection of the client's pool; the error for the client when it cannot.</summary>
    public delegate Task<(PooledServer? Server, IReadOnlyList<byte[]> Notices, ErrorResponse? Error)> ServerOpener(CancellationToken cancellationToken);

    public PooledClientState State { get; private set; } = PooledClientState.Unlinked;

    /// <summary>What pins the client to its server connection (transaction mode), if anything.</summary>
    public Pooling.SessionStateUse Pins { get; private set; }

    /// <summary>The linked server's process id, or 0.</summary>
    public int ServerProcessId => Volatile.Read(ref _server)?.ProcessId ?? 0;

    /// <summary>The client's pool.</summary>
    public PoolKey Key => _startup.Key;

    /// <summary>For status: the server connection the client holds, or none, and what pins it.</summary>
    public string Describe()
    {
        var server = State switch
        {
            PooledClientState.Waiting => "waiting",
            PooledClientState.Ended => "ended",
            _ => ServerProcessId is var pid and not 0 ? $"backend {pid}" : "none",
        };
        return Pins == SessionStateUse.None ? server : $"{server}, pinned: {Pins}";
    }

    /// <summary>
    /// The login's end: a server connection for the client (idle from the pool, or opened), the
    /// client's parameters SET on it, then AuthenticationOk (after <paramref name="final"/>),
    /// every reported parameter, conmgr's cancel key and ReadyForQuery. An error means nothing
    /// reached the client yet; <c>Retry</c> that the instance could not be reached and another may be tried.
    /// </summary>
    public async Task<(ErrorResponse? Error, bool Retry)> LoginAsync(byte[]? final)
    {
        var (server, notices, error, retry) = await LinkServerAsync();
        if (server is null)
        {
            return (error, retry);
        }

        var buffer = new ArrayBufferWriter<byte>(1024);
        if (final is not null)
        {
            buffer.Write(final);
        }

        if (NegotiateProtocolVersion() is { } negotiate)
        {
            buffer.Write(negotiate);
        }

        foreach (var notice in notices)
        {
            buffer.Write(notice);
        }

        buffer.Write(AuthenticationMessages.Request(AuthenticationCodes.Ok));
        foreach (var (name, value) in server.Reported)
        {
            new ParameterStatus(name, value).WriteTo(buffer);
            _told[name] = value;
        }

        _clientKey = _keys.Reserve(4);
        _keys.Register(_clientKey, this);
        WriteMessage(buffer, (byte)BackendMessageCode.BackendKeyData, _clientKey.ToBody());
        ReadyForQuery.WriteIdle(buffer);
        if (!await WriteClientAsync(buffer.WrittenMemory))
        {
            GiveBack(server, reusable: true);
            return (null, false);
        }

        lock (_gate)
        {
            _server = server;
            State = PooledClientState.Linked;
            if (_mode == ServerPoolMode.Transaction)
            {
                // Logged in and idle: in transaction mode the server goes back at once.
                _server = null;
                State = PooledClientState.Unlinked;
            }
        }

        if (_mode == ServerPoolMode.Transaction)
        {
            GiveBack(server, reusable: true);
        }
        else
        {
            _pump = PumpAsync(server);
        }

        return (null, false);
    }

    /// <summary>Reads the client until it leaves; returns why the session ended.</summary>
    public async Task<string> RunAsync()
    {
        string reason;
        try
        {
            reason = await ClientLoopAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            reason = $"client side ended: {ex.Message}";
        }

        await EndAsync();
        return reason;
    }

    /// <inheritdoc/>
    public async Task<bool> StopAtBoundaryAsync(byte[]? errorResponse)
    {
        PooledServer? server;
        Task<PumpEnd>? pump;
        lock (_gate)
        {
            _stopping = true;
            server = _server;
            pump = _pump;
        }

        server?.Close(terminate: false);
        try
        {
            // A client waiting for a server connection stops waiting.
            await _stop.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
        }

        if (pump is not null)
        {
            await Task.WhenAny(pump, Task.Delay(ApplicationHandler.ErrorSendTimeout));
        }

        var sent = false;
        if (errorResponse is not null && _clientAtBoundary)
        {
            sent = await WriteClientAsync(errorResponse);
        }

        _clientReader.CancelPendingRead();
        return sent;
    }

    /// <inheritdoc/>
    public CancelDestination? BeginCancel()
    {
        lock (_gate)
        {
            if (_server is not { BackendKey: { } key } server)
            {
                return null;
            }

            server.CancelsInFlight++;
            return new CancelDestination(key, server.Instance, () => CancelDone(server));
        }
    }

    private void CancelDone(PooledServer server)
    {
        lock (_gate)
        {
            server.CancelsInFlight--;
            ReleaseIfDeferredLocked(server);
        }
    }

    /// <summary>Under the lock: a release the pump had to put off (a batch being written, a cancel on its way) is asked of the pump now; it checks everything again.</summary>
    private void ReleaseIfDeferredLocked(PooledServer server)
    {
        if (_releaseDeferred && _server == server && !_clientBusy && server.CancelsInFlight == 0)
        {
            _releaseDeferred = false;
            _detach = Detach.ForRelease;
            server.Reader.CancelPendingRead();
        }
    }

    private async Task<string> ClientLoopAsync()
    {
        while (true)
        {
            ReadResult result;
            using (var idle = IdleInTransactionTimer())
            {
                try
                {
                    result = await _clientReader.ReadAsync(idle?.Token ?? CancellationToken.None);
                }
                catch (OperationCanceledException) when (idle is not null && idle.IsCancellationRequested)
                {
                    _log.Log($"ending pooled session of {_client.Describe()}: idle in a transaction for idle_transaction_timeout ({ConMgrConfigLoader.Format(_settings.IdleTransactionTimeout)})");
                    await StopAtBoundaryAsync(ClientErrors.IdleTransactionTimeout().ToArray());
                    return "idle_transaction_timeout";
                }
            }

            if (result.IsCanceled || _stopping)
            {
                return "conmgr ended the session";
            }

            var buffer = result.Buffer;
            var scan = ScanClient(buffer);
            if (scan.Error is { } error)
            {
                _log.Log($"closing pooled session of {_client.Describe()}: {error}");
                await StopAtBoundaryAsync(ClientErrors.InvalidFrontendMessage(error).ToArray());
                return error;
            }

            if (scan.Forward > 0 && !await ForwardAsync(buffer.Slice(0, scan.Forward), scan))
            {
                return "the session ended while forwarding";
            }

            if (scan.Terminate)
            {
                return "the client sent Terminate";
            }

            _clientReader.AdvanceTo(buffer.GetPosition(scan.Forward), buffer.End);
            if (result.IsCompleted)
            {
                // Whatever is left is the start of a message that will never be whole.
                return scan.Forward == buffer.Length ? "the client closed the connection" : "the client closed the connection inside a message";
            }
        }
    }

    /// <summary>A timer while the client holds its server inside a transaction with nothing pending, for idle_transaction_timeout.</summary>
    private CancellationTokenSource? IdleInTransactionTimer()
    {
        if (_settings.IdleTransactionTimeout <= TimeSpan.Zero)
        {
            return null;
        }

        lock (_gate)
        {
            if (_server is not { } server || server.TransactionStatus == (byte)'I' || _outstanding > 0)
            {
                return null;
            }
        }

        var cts = new CancellationTokenSource();
        cts.CancelAfter(_settings.IdleTransactionTimeout);
        return cts;
    }

    /// <summary>Links a server when none is, counts what the batch asks of it, and writes it.</summary>
    private async Task<bool> ForwardAsync(ReadOnlySequence<byte> bytes, ClientScan scan)
    {
        PooledServer? server;
        lock (_gate)
        {
            server = _server;
            if (server is not null)
            {
                Account(scan);
            }
        }

        if (server is null)
        {
            var (linked, _, error, _) = await LinkServerAsync();
            if (linked is null)
            {
                await StopAtBoundaryAsync(error?.ToArray());
                return false;
            }

            server = linked;
            if (!await TellChangedParametersAsync(server))
            {
                GiveBack(server, reusable: true);
                return false;
            }

            lock (_gate)
            {
                if (_stopping)
                {
                    GiveBackLocked(server);
                    return false;
                }

                _server = server;
                State = PooledClientState.Linked;
                Account(scan);
            }

            _pump = PumpAsync(server);
        }

        try
        {
            foreach (var segment in bytes)
            {
                await server.WriteAsync(segment);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            // The server side's end reaches the client through the pump.
            _log.Debug($"pooled session of {_client.Describe()}: writing to the server failed: {ex.Message}");
        }
        finally
        {
            lock (_gate)
            {
                _clientBusy = false;
                ReleaseIfDeferredLocked(server);
            }
        }

        return true;
    }

    /// <summary>Under the lock: what a batch about to be written leaves pending.</summary>
    private void Account(ClientScan scan)
    {
        _clientBusy = true;
        _outstanding += scan.Replies;
        _unsynced = scan.EndsUnsynced || (_unsynced && !scan.HasSync);
        var pins = scan.Pins & ~SessionStateUse.ReportedSetting;
        if (pins != SessionStateUse.None && _mode == ServerPoolMode.Transaction)
        {
            if ((Pins & pins) != pins)
            {
                _log.Log($"pooled session of {_client.Describe()} is pinned to backend process {_server?.ProcessId}: {pins}");
                Diagnostics.ConMgrMetrics.RecordPoolPin(pins.ToString());
            }

            Pins |= pins;
        }
    }

    /// <summary>
    /// A server connection for the client: an idle one of its pool (its watch stopped), or a new
    /// one in a free place, waiting up to pool_wait_timeout; then the client's settings applied.
    /// </summary>
    private async Task<(PooledServer? Server, IReadOnlyList<byte[]> Notices, ErrorResponse? Error, bool Retry)> LinkServerAsync()
    {
        State = PooledClientState.Waiting;
        bool reroute;
        lock (_gate)
        {
            reroute = _rerouteNeeded;
            _rerouteNeeded = false;
        }

        if (reroute && Reroute is { } rerouter)
        {
            var (startup, open, error) = await rerouter();
            if (startup is null || open is null)
            {
                State = PooledClientState.Unlinked;
                return (null, [], error, false);
            }

            _startup = startup;
            _open = open;
        }

        while (true)
        {
            var lease = await _pool.AcquireAsync(_startup.Key, _stop.Token);
            if (lease is not { } granted)
            {
                State = PooledClientState.Unlinked;
                var port = _startup.Key.Port.Name();
                if (_stopping)
                {
                    return (null, [], null, false);
                }

                Diagnostics.ConMgrMetrics.RecordPoolWaitTimeout(port);
                _log.Log($"{_client.Describe()} waited pool_wait_timeout ({ConMgrConfigLoader.Format(_settings.WaitTimeout)}) for a server connection of {_startup.Key}");
                return (null, [], ClientErrors.PoolWaitTimeout(port, _client.Instance ?? "its instance", ConMgrConfigLoader.Format(_settings.WaitTimeout)), false);
            }

            IReadOnlyList<byte[]> notices = [];
            var server = granted.Server;
            if (server is not null)
            {
                if (!await ServerPool.StopWatchAsync(server))
                {
                    _pool.Release(server, reusable: false);
                    continue;
                }
            }
            else
            {
                (server, notices, var error) = await _open(CancellationToken.None);
                if (server is null)
                {
                    _pool.OpenFailed(_startup.Key);
                    State = PooledClientState.Unlinked;
                    return (null, [], error, error?.SqlState == SqlState.SqlClientUnableToEstablishSqlConnection);
                }

                server.State = PooledServerState.Linked;
            }

            var settingError = await ApplySettingsAsync(server);
            if (settingError is not null)
            {
                _pool.Release(server, reusable: !server.IsClosed && server.TransactionStatus == (byte)'I');
                State = PooledClientState.Unlinked;
                return (null, [], settingError, false);
            }

            return (server, notices, null, false);
        }
    }

    /// <summary>The client is done: its server goes back to the pool when it is clean (after server_reset_query where needed), or is closed.</summary>
    private async Task EndAsync()
    {
        PooledServer? server;
        Task<PumpEnd>? pump;
        bool clean;
        lock (_gate)
        {
            // Taken out of the session here: from now on neither the pump nor a cancel's arrival gives it back.
            server = _server;
            pump = _pump;
            _server = null;
            _pump = null;
            clean = server is not null && !_stopping && server.TransactionStatus == (byte)'I' && _outstanding == 0 && !_unsynced && _serverStreamRemaining == 0 && _clientStreamRemaining == 0;
            if (clean)
            {
                _detach = Detach.ForEnd;
                server!.Reader.CancelPendingRead();
            }
        }

        if (server is not null)
        {
            if (!clean)
            {
                server.Close(terminate: false);
            }

            var end = pump is null ? PumpEnd.Detached : await pump;
            var reusable = clean && end == PumpEnd.Detached && server.CancelsInFlight == 0;
            if (reusable && (_mode == ServerPoolMode.Session || Pins != SessionStateUse.None))
            {
                reusable = await ResetAsync(server);
            }

            _pool.Release(server, reusable);
        }

        State = PooledClientState.Ended;
        if (_clientKey is not null)
        {
            _keys.Remove(_clientKey);
        }

        await _clientReader.CompleteAsync();
        if (_client.Tls is null)
        {
            _clientStream.Dispose();
        }

        _client.Dispose();
    }

    /// <summary>A client landing on another server connection is told each reported value that differs from what it was told last (in_hot_standby after a reroute, say), as a direct session would have told it of a change.</summary>
    private async Task<bool> TellChangedParametersAsync(PooledServer server)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (var (name, value) in server.Reported)
        {
            if (!_told.TryGetValue(name, out var told) || told != value)
            {
                new ParameterStatus(name, value).WriteTo(buffer);
                _told[name] = value;
            }
        }

        return buffer.WrittenCount == 0 || await WriteClientAsync(buffer.WrittenMemory);
    }

    private void GiveBack(PooledServer server, bool reusable) => _pool.Release(server, reusable);

    /// <summary>A connection linked just as the session was stopped: nothing of the client is on it yet.</summary>
    private void GiveBackLocked(PooledServer server) => _pool.Release(server, reusable: !server.IsClosed && server.TransactionStatus == (byte)'I');

    private Task<bool> WriteClientAsync(ReadOnlyMemory<byte> bytes) => WriteClientAsync(new ReadOnlySequence<byte>(bytes));

    /// <summary>Every write to the client goes through here, one at a time (the pump's, and conmgr's own messages).</summary>
    private async Task<bool> WriteClientAsync(ReadOnlySequence<byte> bytes)
    {
        var entered = false;
        try
        {
            await _clientWrite.WaitAsync();
            entered = true;
            foreach (var segment in bytes)
            {
                await _clientStream.WriteAsync(segment);
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or OperationCanceledException or InvalidOperationException)
        {
            return false;
        }
        finally
        {
            if (entered)
            {
                _clientWrite.Release();
            }
        }
    }

    public void Dispose()
    {
        _clientWrite.Dispose();
        _stop.Dispose();
    }

    /// <summary>NegotiateProtocolVersion, as PostgreSQL 15 answers a newer minor version or _pq_ options; null when the client asked for neither.</summary>
    private byte[]? NegotiateProtocolVersion()
    {
        var minor = _startup.RequestedMinorVersion;
        if (minor == 0 && _startup.UnsupportedOptions.Count == 0)
        {
            return null;
        }

        var body = new ArrayBufferWriter<byte>();
        var head = body.GetSpan(8);
        BinaryPrimitives.WriteInt32BigEndian(head, StartupCodes.ProtocolVersion3);
        BinaryPrimitives.WriteInt32BigEndian(head[4..], _startup.UnsupportedOptions.Count);
        body.Advance(8);
        foreach (var option in _startup.UnsupportedOptions)
        {
            body.Write(Encoding.UTF8.GetBytes(option));
            body.Write<byte>([0]);
        }

        var message = new ArrayBufferWriter<byte>();
        WriteMessage(message, (byte)BackendMessageCode.NegotiateProtocolVersion, body.WrittenSpan);
        return message.WrittenSpan.ToArray();
    }

    private static void WriteMessage(ArrayBufferWriter<byte> writer, byte type, ReadOnlySpan<byte> body)
    {
        var span = writer.GetSpan(5 + body.Length);
        span[0] = type;
        BinaryPrimitives.WriteInt32BigEndian(span[1..], 4 + body.Length);
        body.CopyTo(span[5..]);
        writer.Advance(5 + body.Length);
    }

    private enum PumpEnd
    {
        /// <summary>Stopped for the client loop (the client left cleanly): the server is intact.</summary>
        Detached,

        /// <summary>Given back to the pool between transactions.</summary>
        Released,

        /// <summary>The server closed or sent what is not PostgreSQL's protocol; the client was ended.</summary>
        ServerGone,
    }
}
