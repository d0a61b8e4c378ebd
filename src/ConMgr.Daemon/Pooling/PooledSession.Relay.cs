// PooledSession.Relay.cs: the two directions of a pooled session: what the client sends (counted, scanned for pins) and what the server answers (forwarded, followed to ReadyForQuery).
using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;
using ConMgr.Configuration;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Pooling;

public sealed partial class PooledSession
{
    private Detach _detach;

    /// <summary>Why the pump's read was stopped.</summary>
    private enum Detach
    {
        None,

        /// <summary>The client left cleanly; the server goes back through <see cref="EndAsync"/>.</summary>
        ForEnd,

        /// <summary>The last cancel arrived; the pump gives the server back if nothing else is pending.</summary>
        ForRelease,
    }

    /// <summary>What a client batch holds, as far as forwarding and pooling need it.</summary>
    private struct ClientScan
    {
        /// <summary>Bytes from the batch's start to forward (whole messages, and the available part of a long one).</summary>
        public long Forward;

        /// <summary>ReadyForQuery answers the batch will get (Query, Sync, FunctionCall).</summary>
        public int Replies;

        public bool HasSync;

        /// <summary>An extended-protocol message after the batch's last Sync.</summary>
        public bool EndsUnsynced;

        public SessionStateUse Pins;

        /// <summary>The batch ends with the client's Terminate (not forwarded).</summary>
        public bool Terminate;

        public string? Error;
    }

    /// <summary>Walks the client's bytes message by message without copying them, but for the messages it reads (Query, Parse) in transaction mode.</summary>
    private ClientScan ScanClient(ReadOnlySequence<byte> buffer)
    {
        var scan = default(ClientScan);
        var length = buffer.Length;
        var position = ContinueLongMessage(ref _clientStreamRemaining, length);

        Span<byte> header = stackalloc byte[5];
        while (length - position >= 5)
        {
            buffer.Slice(position, 5).CopyTo(header);
            var type = header[0];
            var word = BinaryPrimitives.ReadInt32BigEndian(header[1..]);
            if (word < 4 || word > MaxClientMessage)
            {
                scan.Error = $"invalid message length {word} for message type '{(char)type}'";
                return scan;
            }

            var total = 1L + word;
            var whole = length - position >= total;
            if (!whole && total <= MaxWholeMessage)
            {
                break;
            }

            if (type == (byte)'X')
            {
                scan.Terminate = true;
                break;
            }

            Count(ref scan, type);
            if (_mode == ServerPoolMode.Transaction && type is (byte)'Q' or (byte)'P')
            {
                scan.Pins |= whole ? PinsOf(type, buffer.Slice(position + 5, word - 4)) : SessionStateUse.Unread;
            }

            if (!whole)
            {
                // Too long to hold: what is here passes now, the rest as it comes.
                _clientStreamRemaining = total - (length - position);
                position = length;
                break;
            }

            position += total;
        }

        scan.Forward = position;
        return scan;
    }

    /// <summary>The bytes at a buffer's start that belong to a long message already being passed in pieces.</summary>
    private static long ContinueLongMessage(ref long remaining, long available)
    {
        var take = Math.Min(remaining, available);
        remaining -= take;
        return take;
    }

    private static void Count(ref ClientScan scan, byte type)
    {
        switch (type)
        {
            case (byte)'Q' or (byte)'F':
                scan.Replies++;
                break;
            case (byte)'S':
                scan.Replies++;
                scan.HasSync = true;
                scan.EndsUnsynced = false;
                break;
            case (byte)'P' or (byte)'B' or (byte)'D' or (byte)'E' or (byte)'C' or (byte)'H':
                scan.EndsUnsynced = true;
                break;
        }
    }

    /// <summary>Session state a Query's text or a Parse (its name and text) leaves behind.</summary>
    private SessionStateUse PinsOf(byte type, ReadOnlySequence<byte> body)
    {
        var bytes = body.IsSingleSegment ? body.FirstSpan : body.ToArray();
        var backslashQuotes = _told.TryGetValue("standard_conforming_strings", out var scs) && scs == "off";
        if (type == (byte)'Q')
        {
            return SessionStateScanner.Scan(bytes.IndexOf((byte)0) is var end and >= 0 ? bytes[..end] : bytes, backslashQuotes);
        }

        var nameEnd = bytes.IndexOf((byte)0);
        if (nameEnd < 0)
        {
            return SessionStateUse.Unread;
        }

        var rest = bytes[(nameEnd + 1)..];
        var textEnd = rest.IndexOf((byte)0);
        var found = SessionStateScanner.Scan(textEnd < 0 ? rest : rest[..textEnd], backslashQuotes);
        return nameEnd > 0 ? found | SessionStateUse.NamedStatement : found;
    }

    /// <summary>
    /// The linked server's side: everything to the client as it comes, with ReadyForQuery,
    /// ParameterStatus and ErrorResponse read on the way; in transaction mode the server goes
    /// back to the pool at a ReadyForQuery 'I' that leaves nothing pending.
    /// </summary>
    private async Task<PumpEnd> PumpAsync(PooledServer server)
    {
        try
        {
            while (true)
            {
                var result = await server.Reader.ReadAsync();
                if (result.IsCanceled)
                {
                    // Bytes that came with the stop stay in the reader for whoever reads next.
                    server.Reader.AdvanceTo(result.Buffer.Start);
                    lock (_gate)
                    {
                        var reason = _detach;
                        _detach = Detach.None;
                        if (reason == Detach.ForEnd)
                        {
                            return PumpEnd.Detached;
                        }

                        if (reason == Detach.ForRelease && TakeForRelease(server))
                        {
                            break;
                        }
                    }

                    continue;
                }

                var buffer = result.Buffer;
                var (forward, idleAtEnd) = ScanServer(server, buffer);
                if (forward > 0)
                {
                    _clientAtBoundary = false;
                    var written = await WriteClientAsync(buffer.Slice(0, forward));
                    _clientAtBoundary = _serverStreamRemaining == 0;
                    if (!written)
                    {
                        return Gone(server, "the client went away");
                    }
                }

                server.Reader.AdvanceTo(buffer.GetPosition(forward), buffer.End);
                if (result.IsCompleted)
                {
                    return Gone(server, "the server closed the connection");
                }

                if (idleAtEnd && _mode == ServerPoolMode.Transaction)
                {
                    lock (_gate)
                    {
                        if (TakeForRelease(server))
                        {
                            break;
                        }
                    }
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return Gone(server, $"server side ended: {ex.Message}");
        }

        GiveBack(server, reusable: true);
        return PumpEnd.Released;
    }

    /// <summary>Under the lock: true (and the client unlinked) when the server can go back to the pool now; a cancel on its way defers that to its arrival.</summary>
    private bool TakeForRelease(PooledServer server)
    {
        if (_clientBusy && _server == server)
        {
            // The client loop is writing a batch: when it is done and the batch asked for nothing, it releases.
            _releaseDeferred = true;
            return false;
        }

        if (_server != server || _mode != ServerPoolMode.Transaction || Pins != SessionStateUse.None || _outstanding > 0 || _unsynced
            || server.TransactionStatus != (byte)'I' || _serverStreamRemaining > 0 || _stopping)
        {
            return false;
        }

        if (server.CancelsInFlight > 0)
        {
            _releaseDeferred = true;
            return false;
        }

        _releaseDeferred = false;
        _server = null;
        _pump = null;
        State = PooledClientState.Unlinked;
        return true;
    }

    /// <summary>The server side ended while linked: the client cannot go on (its transaction, or its session, was there).</summary>
    private PumpEnd Gone(PooledServer server, string why)
    {
        bool owner;
        lock (_gate)
        {
            owner = _server == server;
            if (owner)
            {
                _server = null;
                _pump = null;
            }
        }

        if (owner)
        {
            _log.Debug($"pooled session of {_client.Describe()}: {why} (backend process {server.ProcessId})");
            server.Close(terminate: false);
            GiveBack(server, reusable: false);
            if (!_stopping)
            {
                _stopping = true;
                _clientReader.CancelPendingRead();
            }
        }

        return PumpEnd.ServerGone;
    }

    /// <summary>Follows the server's messages in <paramref name="buffer"/>; returns how many bytes to forward and whether they end with ReadyForQuery 'I'.</summary>
    private (long Forward, bool IdleAtEnd) ScanServer(PooledServer server, ReadOnlySequence<byte> buffer)
    {
        var length = buffer.Length;
        var position = ContinueLongMessage(ref _serverStreamRemaining, length);
        var idleAtEnd = false;

        Span<byte> header = stackalloc byte[6];
        while (length - position >= 5)
        {
            buffer.Slice(position, 5).CopyTo(header);
            var type = header[0];
            var word = BinaryPrimitives.ReadInt32BigEndian(header[1..]);
            if (word < 4)
            {
                // Not PostgreSQL's protocol: nothing more is forwarded, and the session ends.
                _log.Log($"closing pooled session of {_client.Describe()}: invalid message length {word} from backend process {server.ProcessId}");
                server.Close(terminate: false);
                break;
            }

            var total = 1L + word;
            var whole = length - position >= total;
            if (!whole && (total <= MaxWholeMessage && type is (byte)'Z' or (byte)'S'))
            {
                break;
            }

            idleAtEnd = false;
            if (!whole)
            {
                _serverStreamRemaining = total - (length - position);
                position = length;
                break;
            }

            if (type == (byte)'Z' && word == 5)
            {
                buffer.Slice(position + 5, 1).CopyTo(header[5..]);
                lock (_gate)
                {
                    _outstanding = Math.Max(0, _outstanding - 1);
                    server.TransactionStatus = header[5];
                }

                idleAtEnd = header[5] == (byte)'I';
            }
            else if (type == (byte)'S' && ParameterStatus.TryParse(buffer.Slice(position + 5, word - 4).ToArray()) is { } status)
            {
                server.Reported[status.Name] = status.Value;
                _told[status.Name] = status.Value;
                if (PooledStartup.Reported.Contains(status.Name))
                {
                    // The client changed it (SET, RESET, a function's SET, a rollback that undid one): it follows the client, and this server no longer has its login value.
                    _clientSettings[status.Name] = status.Value;
                    server.Applied[status.Name] = status.Value;
                }
            }

            position += total;
        }

        return (position, idleAtEnd && position == length);
    }

    /// <summary>
    /// The client's movable startup parameters on <paramref name="server"/>: one Query of SETs
    /// (and RESETs of what an earlier client set and this one did not), its answers kept from the
    /// client. Null when it worked; otherwise the server's error, FATAL, as a direct login with
    /// that value would have failed.
    /// </summary>
    private async Task<ErrorResponse?> ApplySettingsAsync(PooledServer server)
    {
        var sql = new StringBuilder();
        foreach (var (name, value) in _clientSettings)
        {
            var have = PooledStartup.Reported.Contains(name) && server.Reported.TryGetValue(name, out var now) ? now : server.Applied.TryGetValue(name, out var applied) ? applied : server.Reported.TryGetValue(name, out var reported) ? reported : null;
            if (have != value)
            {
                sql.Append("SET ").Append(QuoteName(name)).Append(" TO ").Append(QuoteLiteral(value)).Append(';');
            }
        }

        var stale = server.Applied.Keys.Where(name => !_clientSettings.ContainsKey(name)).ToList();
        foreach (var name in stale)
        {
            sql.Append("RESET ").Append(QuoteName(name)).Append(';');
        }

        if (sql.Length == 0)
        {
            return null;
        }

        var error = await RunQuietlyAsync(server, sql.ToString());
        if (error is null)
        {
            foreach (var name in stale)
            {
                server.Applied.Remove(name);
            }

            foreach (var (name, value) in _clientSettings.ToList())
            {
                // A reported value as the server spells it ("ISO" becomes "ISO, MDY"): compared with that from now on, so it is SET once.
                var inForce = PooledStartup.Reported.Contains(name) && server.Reported.TryGetValue(name, out var reported) ? reported : value;
                server.Applied[name] = inForce;
                _clientSettings[name] = inForce;
            }
        }

        return error is null ? null : error with { Severity = "FATAL" };
    }

    /// <summary>server_reset_query on a server whose client left (session mode, or a pinned client): true when it can serve another client.</summary>
    private async Task<bool> ResetAsync(PooledServer server)
    {
        var error = await RunQuietlyAsync(server, _settings.ServerResetQuery);
        if (error is not null)
        {
            _log.Log($"server_reset_query failed on backend process {server.ProcessId} of {server.Key}; closing it: {error.Message}");
            return false;
        }

        server.Applied.Clear();
        return server.TransactionStatus == (byte)'I';
    }

    /// <summary>One simple Query on a server no client reads now; its answers are consumed here (ParameterStatus kept). The server's ErrorResponse, or null.</summary>
    private static async Task<ErrorResponse?> RunQuietlyAsync(PooledServer server, string sql)
    {
        var text = Encoding.UTF8.GetBytes(sql);
        var query = new byte[6 + text.Length];
        query[0] = (byte)'Q';
        BinaryPrimitives.WriteInt32BigEndian(query.AsSpan(1), 5 + text.Length);
        text.CopyTo(query, 5);
        ErrorResponse? error = null;
        using var deadline = new CancellationTokenSource(Clients.ApplicationHandler.StartupTimeout);
        try
        {
            await server.WriteAsync(query, deadline.Token);
            while (true)
            {
                var message = await ReadMessageAsync(server.Reader, deadline.Token);
                if (message is null)
                {
                    server.Close(terminate: false);
                    return error ?? ClientErrors.ConnectionLostDuringAuthentication("the server closed the connection");
                }

                switch (message[0])
                {
                    case (byte)'E':
                        error ??= ClientErrors.FromServer(ErrorResponse.FieldsOf(message.AsSpan(5)));
                        break;
                    case (byte)'S' when ParameterStatus.TryParse(message.AsSpan(5)) is { } status:
                        server.Reported[status.Name] = status.Value;
                        break;
                    case (byte)'Z' when message.Length == 6:
                        server.TransactionStatus = message[5];
                        return error;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException or OperationCanceledException or Proxy.MessageFormatException)
        {
            server.Close(terminate: false);
            return ClientErrors.ConnectionLostDuringAuthentication(ex.Message);
        }
    }

    /// <summary>One whole server message (bounded by <see cref="MaxWholeMessage"/>), or null at the end of the stream.</summary>
    internal static async Task<byte[]?> ReadMessageAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        var header = new byte[5];
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.Length >= 5)
            {
                buffer.Slice(0, 5).CopyTo(header);
                var word = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1));
                if (word < 4 || word > MaxWholeMessage - 1)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new Proxy.MessageFormatException($"invalid message length {word} for message type '{(char)header[0]}' from the server");
                }

                if (buffer.Length >= 1 + word)
                {
                    var message = buffer.Slice(0, 1 + word).ToArray();
                    reader.AdvanceTo(buffer.GetPosition(1 + word));
                    return message;
                }
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                return null;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    /// <summary>A GUC name as SET takes it: each dotted part a quoted identifier.</summary>
    private static string QuoteName(string name) => string.Join('.', name.Split('.').Select(part => "\"" + part.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""));

    /// <summary>An E'' literal: the same reading whatever standard_conforming_strings says.</summary>
    private static string QuoteLiteral(string value) => "E'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";
}
