// PooledServer.cs: one server connection of a pool: its stream and reader, what the server reported, and its state.
using System.Buffers;
using System.IO.Pipelines;
using ConMgr.Configuration;
using ConMgr.Daemon.Proxy;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Pooling;

/// <summary>Where a pooled server connection is.</summary>
public enum PooledServerState
{
    /// <summary>Logging in, or being made ready (reset, settings) for a client.</summary>
    Opening,

    /// <summary>In the pool, between clients; its reader watches for the server closing it.</summary>
    Idle,

    /// <summary>Serving one client.</summary>
    Linked,

    /// <summary>Closed; never reused.</summary>
    Closed,
}

/// <summary>
/// A logged-in server connection. Its reader is a <see cref="PipeReader"/> with zero-byte reads,
/// so an idle server connection holds no buffer. Only one party reads it at a time: the client it
/// is linked to, or the pool's watch while it is idle.
/// </summary>
public sealed class PooledServer
{
    private readonly BackendConnection _connection;
    private int _closed;

    public PooledServer(BackendConnection connection, PoolKey key, InstanceSettings instance, DateTimeOffset openedAt)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
        Key = key;
        Instance = instance;
        OpenedAt = openedAt;
        Reader = PipeReader.Create(connection.Stream, new StreamPipeReaderOptions(pool: MemoryPool<byte>.Shared, bufferSize: 16 * 1024, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true));
    }

    public PoolKey Key { get; }

    public InstanceSettings Instance { get; }

    public DateTimeOffset OpenedAt { get; }

    /// <summary>When it last went back to the pool.</summary>
    public DateTimeOffset IdleSince { get; set; }

    public PooledServerState State { get; set; } = PooledServerState.Opening;

    public PipeReader Reader { get; }

    public Stream Stream => _connection.Stream;

    /// <summary>The server's BackendKeyData: what a client's cancel is forwarded with while the client is linked here.</summary>
    public BackendKeyData? BackendKey { get; set; }

    /// <summary>The last value the server reported for each GUC_REPORT parameter (ParameterStatus).</summary>
    public Dictionary<string, string> Reported { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Movable parameters conmgr SET on this connection that the server does not report (search_path and the like): the value in force.</summary>
    public Dictionary<string, string> Applied { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The transaction status of the last ReadyForQuery: 'I', 'T' or 'E'.</summary>
    public byte TransactionStatus { get; set; } = (byte)'I';

    /// <summary>CancelRequests for this connection on their way: it is not given to another client until they have arrived.</summary>
    public int CancelsInFlight { get; set; }

    /// <summary>The pool's watch of this idle connection (a pending read), stopped when a client takes it.</summary>
    public Task<bool>? Watch { get; set; }

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    /// <summary>Process id of the server session, for status and logs.</summary>
    public int ProcessId => BackendKey?.ProcessId ?? 0;

    public async Task WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default) => await _connection.Stream.WriteAsync(bytes, cancellationToken);

    /// <summary>Closes the connection at once (a pending read ends); a Terminate is sent first when <paramref name="terminate"/> and the socket takes it now.</summary>
    public void Close(bool terminate = true)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        State = PooledServerState.Closed;
        try
        {
            if (terminate && _connection.Tls is null)
            {
                // The server logs a clean disconnection instead of "unexpected EOF"; a TLS stream is not written outside its owner.
                _connection.Socket.Send(TerminateMessage);
            }

            _connection.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }

        _connection.Dispose();
    }

    private static readonly byte[] TerminateMessage = [(byte)'X', 0, 0, 0, 4];
}
