// ConMgrChannel.cs: the conmgr socket of one physical connection: watched for the loss report, closed when the server connection closes.
using System.Net.Sockets;

namespace ConMgr.Client;

/// <summary>
/// Phase one's socket, kept open for the life of the physical server connection (seed 1.2.1),
/// across every time the pool hands that connection out. When conmgr writes on it (instance
/// lost, role changed) or it breaks (conmgr died), the data source breaks every connection to
/// that instance (<see cref="NpgsqlConnectionBreaker"/>) so an in-flight command fails with a
/// transient <see cref="Npgsql.NpgsqlException"/>, evicts the idle ones, and cancels
/// <see cref="Lost"/>. When the server connection closes (the application closed it without
/// pooling, or the pool pruned it), this socket is closed, which tells conmgr.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The token source has no timer to release, and applications may read Lost after the connection closed: it is never disposed.")]
public sealed class ConMgrChannel
{
    private readonly CancellationTokenSource _lost = new();
    private readonly Resolve.HostEntry _entry;
    private readonly Socket? _server;
    private readonly Action<ConMgrChannel, string> _onReport;
    private string? _lostReason;
    private int _closed;

    /// <param name="server">The physical connection's own socket (see <see cref="NpgsqlConnectionBreaker"/>); null when this Npgsql version hides it.</param>
    /// <param name="onReport">Runs once when conmgr reports on this socket (or it breaks): the data source's eviction of the instance.</param>
    internal ConMgrChannel(Socket socket, Socket? server, Resolve.HostEntry conmgr, int instanceNumber, bool openedEarly, Action<ConMgrChannel, string> onReport)
    {
        Socket = socket;
        _server = server;
        _entry = conmgr;
        InstanceNumber = instanceNumber;
        OpenedEarly = openedEarly;
        _onReport = onReport;
    }

    /// <summary>The socket to conmgr (the seed's PQcmSocket): readable when conmgr reports something.</summary>
    public Socket Socket { get; }

    /// <summary>The conmgr (host:port) that resolved this connection.</summary>
    public string ConMgr => _entry.ToString();

    /// <summary>conmgr's number for the instance (backend_hostN).</summary>
    public int InstanceNumber { get; }

    /// <summary>Whether the physical connection was opened beside phase one, on the forecast (<see cref="ConMgrDataSourceBuilder.OpenEarly"/>).</summary>
    public bool OpenedEarly { get; }

    /// <summary>Cancelled when conmgr reported the instance lost or conmgr itself went away.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>What conmgr said (or that it vanished); null while the instance is fine.</summary>
    public string? LostReason => Volatile.Read(ref _lostReason);

    /// <summary>When the report arrived (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>); null before.</summary>
    public long? LostTimestamp { get; private set; }

    internal Resolve.HostEntry Entry => _entry;

    /// <summary>True once Npgsql has closed the physical connection (its socket is disposed).</summary>
    internal bool ServerClosed
    {
        get
        {
            if (_server is null)
            {
                return false;
            }

            try
            {
                _ = _server.Available;
                return false;
            }
            catch (ObjectDisposedException)
            {
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }

    /// <summary>Starts watching the socket; called once the lease is known to its pool, so a report that is already waiting finds it there.</summary>
    internal void Start() => _ = WatchAsync();

    /// <summary>The instance is lost: remember why, break the server connection, close the conmgr socket, then cancel <see cref="Lost"/>.</summary>
    internal void Lose(string reason)
    {
        if (Interlocked.CompareExchange(ref _lostReason, reason, null) is not null)
        {
            return;
        }

        LostTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_server is not null)
        {
            NpgsqlConnectionBreaker.Break(_server);
        }

        Close();
        _lost.Cancel();
    }

    /// <summary>Closes the conmgr socket: conmgr forgets the connection.</summary>
    internal void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            Socket.Dispose();
        }
    }

    private async Task WatchAsync()
    {
        string reason;
        try
        {
            var message = await Resolve.WireMessages.ReadAsync(Socket, CancellationToken.None);
            reason = message switch
            {
                null => "conmgr closed the connection (conmgr stopped or died)",
                { Type: 'E' } error => Describe(error.AsErrorFields()),
                _ => $"unexpected message '{message.Type}' from conmgr",
            };
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or InvalidDataException)
        {
            reason = $"connection to conmgr broken: {ex.Message}";
        }

        if (Volatile.Read(ref _closed) == 0)
        {
            _onReport(this, reason);
        }
    }

    private static string Describe(IReadOnlyDictionary<char, string> fields)
    {
        var text = $"{fields.GetValueOrDefault('C')}: {fields.GetValueOrDefault('M')}";
        return fields.TryGetValue('D', out var detail) ? $"{text} ({detail})" : text;
    }
}
