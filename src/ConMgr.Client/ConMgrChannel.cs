// ConMgrChannel.cs: the conmgr socket of one SQL connection: watched for the loss report, closed with the connection.
using System.Net.Sockets;
using Npgsql;

namespace ConMgr.Client;

/// <summary>
/// Phase one's socket, kept open for the life of the SQL connection (seed 1.2.1). When conmgr
/// writes on it (instance lost, role changed) or it breaks (conmgr died), the SQL connection is
/// broken at once (<see cref="NpgsqlConnectionBreaker"/>) so an in-flight command fails with a
/// transient <see cref="NpgsqlException"/>, and <see cref="Lost"/> is cancelled. Closing the SQL
/// connection closes this socket, which tells conmgr the application connection ended.
/// </summary>
public sealed class ConMgrChannel : IDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly CancellationTokenSource _lost = new();
    private readonly Resolve.HostEntry _entry;
    private readonly Action? _onLost;
    private int _closedByUs;

    /// <param name="onLost">Runs when the loss is known, before <see cref="Lost"/> is cancelled: whoever sees the token cancelled sees what it did.</param>
    internal ConMgrChannel(Socket socket, NpgsqlConnection connection, Resolve.HostEntry conmgr, int instanceNumber, bool openedEarly, Action? onLost = null)
    {
        _onLost = onLost;
        Socket = socket;
        OpenedEarly = openedEarly;
        _entry = conmgr;
        _connection = connection;
        InstanceNumber = instanceNumber;
        _connection.StateChange += OnStateChange;
        _ = WatchAsync();
    }

    /// <summary>The socket to conmgr (the seed's PQcmSocket): readable when conmgr reports something.</summary>
    public Socket Socket { get; }

    /// <summary>The conmgr (host:port) that resolved this connection.</summary>
    public string ConMgr => _entry.ToString();

    /// <summary>conmgr's number for the instance (backend_hostN).</summary>
    public int InstanceNumber { get; }

    /// <summary>Whether the SQL connection was opened beside phase one, on the forecast (<see cref="ConMgrDataSourceBuilder.OpenEarly"/>).</summary>
    public bool OpenedEarly { get; }

    /// <summary>Cancelled when conmgr reported the instance lost or conmgr itself went away.</summary>
    public CancellationToken Lost => _lost.Token;

    /// <summary>What conmgr said (or that it vanished); null while the instance is fine.</summary>
    public string? LostReason { get; private set; }

    /// <summary>When the report arrived (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>); null before.</summary>
    public long? LostTimestamp { get; private set; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _closedByUs, 1) != 0)
        {
            return;
        }

        _connection.StateChange -= OnStateChange;
        Socket.Dispose();
    }

    private void OnStateChange(object? sender, System.Data.StateChangeEventArgs e)
    {
        if (e.CurrentState is System.Data.ConnectionState.Closed or System.Data.ConnectionState.Broken)
        {
            Dispose();
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

        if (Volatile.Read(ref _closedByUs) != 0)
        {
            return;
        }

        LostTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        LostReason = reason;
        Diagnostics.ClientMetrics.RecordLost(_entry.Host, _entry.Port);
        NpgsqlConnectionBreaker.Break(_connection);
        _onLost?.Invoke();
        await _lost.CancelAsync();
        Dispose();
    }

    private static string Describe(IReadOnlyDictionary<char, string> fields)
    {
        var text = $"{fields.GetValueOrDefault('C')}: {fields.GetValueOrDefault('M')}";
        return fields.TryGetValue('D', out var detail) ? $"{text} ({detail})" : text;
    }
}
