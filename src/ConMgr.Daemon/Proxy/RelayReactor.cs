// RelayReactor.cs: relays plaintext proxied sessions on raw descriptors from one epoll thread: one recv and one send per chunk.
using System.Buffers;
using System.Collections.Concurrent;
using ConMgr.Hosting.Posix;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// The proxy's data path, as PgBouncer and HAProxy have it: level-triggered epoll, and for each
/// readiness one <c>recv</c> into a pooled buffer and one <c>send</c> of what was read. .NET's
/// socket awaits first try a <c>recv</c> that returns EAGAIN and only then wait, which costs a
/// system call per message and direction; measured on pgbench, that was the difference
/// (docs/benchmarks.md, "Proxy"). A buffer is held only while its bytes cannot be sent (the
/// receiver's window is full); an idle session holds none. While a direction has bytes pending,
/// its source is not read (back-pressure through TCP) and its destination is watched for
/// writability; nothing is queued. Sessions are added, stopped and counted through a command
/// queue that an eventfd wakes; everything else happens on the reactor's thread.
/// </summary>
public sealed class RelayReactor : IDisposable
{
    /// <summary>Bytes read per readiness; a longer burst is read on the next wake-up (level-triggered).</summary>
    public const int BufferSize = 32 * 1024;

    private const ulong WakeToken = ulong.MaxValue;
    private const uint ReadEvents = Epoll.In | Epoll.RdHup;

    private readonly int _epoll;
    private readonly int _wake;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly Dictionary<long, RelaySession> _sessions = [];
    private readonly byte[] _events = new byte[256 * Epoll.EventSize];
    private readonly Thread _thread;
    private long _nextId;
    private volatile bool _stopping;

    public RelayReactor(string name)
    {
        _epoll = Epoll.Create();
        RuntimeEpoll.Own(_epoll);
        _wake = Epoll.CreateEventFd();
        Epoll.Add(_epoll, _wake, WakeToken);
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Takes over the session's descriptors and relays until either side ends or <see cref="RelaySession.StopAtBoundaryAsync"/>.</summary>
    internal void Start(RelaySession session) => Post(() =>
    {
        session.Id = ++_nextId;
        _sessions[session.Id] = session;
        try
        {
            Epoll.Add(_epoll, session.ClientFd, (ulong)session.Id << 1, ReadEvents);
            Epoll.Add(_epoll, session.ServerFd, ((ulong)session.Id << 1) | 1, ReadEvents);
            session.ClientInterest = ReadEvents;
            session.ServerInterest = ReadEvents;
        }
        catch (IOException ex)
        {
            End(session, ex.Message);
        }
    });

    internal void Stop(RelaySession session, byte[]? error) => Post(() =>
    {
        if (session.IsEnded)
        {
            session.StopResult.TrySetResult(false);
            return;
        }

        // The server side first: nothing more can arrive, so whether the client is between two messages is settled.
        CloseServer(session);
        var atBoundary = session.Down.Pending is null && session.Tracker.AtBoundary;
        if (atBoundary && error is not null)
        {
            // Best effort and never waiting: a client whose socket buffer cannot take a few hundred bytes is not reading.
            _ = Epoll.Send(session.ClientFd, error);
        }

        session.StopResult.TrySetResult(atBoundary);
        End(session, "ended by conmgr");
    });

    public void Dispose()
    {
        if (!_stopping)
        {
            Post(() =>
            {
                foreach (var session in _sessions.Values.ToList())
                {
                    End(session, "conmgr is shutting down");
                }

                _stopping = true;
            });
            _thread.Join(TimeSpan.FromSeconds(5));
        }

        Epoll.Close(_wake);
        Epoll.Close(_epoll);
    }

    private void Post(Action command)
    {
        _commands.Enqueue(command);
        Epoll.Signal(_wake);
    }

    private void Run()
    {
        while (!_stopping)
        {
            var count = Epoll.Wait(_epoll, _events, -1);
            for (var i = 0; i < count; i++)
            {
                var data = Epoll.DataAt(_events, i);
                if (data == WakeToken)
                {
                    Epoll.Drain(_wake);
                    continue;
                }

                if (!_sessions.TryGetValue((long)(data >> 1), out var session))
                {
                    continue;
                }

                var fromServer = (data & 1) == 1;
                var events = Epoll.EventsAt(_events, i);
                if ((events & (Epoll.Err | Epoll.Hup)) != 0)
                {
                    End(session, fromServer ? "the server connection failed" : "the client connection failed");
                    continue;
                }

                if ((events & Epoll.Out) != 0)
                {
                    Flush(session, intoServer: fromServer);
                }

                if (!session.IsEnded && (events & ReadEvents) != 0)
                {
                    Pump(session, fromClient: !fromServer);
                }
            }

            while (_commands.TryDequeue(out var command))
            {
                command();
            }
        }
    }

    /// <summary>One read from one side and one write of it to the other; what the other cannot take now waits for its writability.</summary>
    private void Pump(RelaySession session, bool fromClient)
    {
        var direction = fromClient ? session.Up : session.Down;
        if (direction.Pending is not null)
        {
            return;
        }

        var from = fromClient ? session.ClientFd : session.ServerFd;
        var to = fromClient ? session.ServerFd : session.ClientFd;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        var read = Epoll.Receive(from, buffer.AsSpan(0, BufferSize));
        if (read <= 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (read != -Epoll.EAGAIN)
            {
                End(session, read == 0
                    ? fromClient ? "the client closed the connection" : "the server closed the connection"
                    : $"{(fromClient ? "client" : "server")} connection error: errno {-read}");
            }

            return;
        }

        session.Relayed(!fromClient, read);
        if (!fromClient && !session.FollowServer(buffer.AsSpan(0, read), out var error))
        {
            ArrayPool<byte>.Shared.Return(buffer);
            End(session, error!);
            return;
        }

        var sent = Epoll.Send(to, buffer.AsSpan(0, read));
        if (sent == read)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }

        if (sent < 0 && sent != -Epoll.EAGAIN)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            End(session, $"{(fromClient ? "server" : "client")} connection error: errno {-sent}");
            return;
        }

        direction.Pending = buffer;
        direction.Offset = Math.Max(sent, 0);
        direction.Count = read;
        UpdateInterest(session);
    }

    /// <summary>The side became writable: send what waited; once all is sent, read its source again.</summary>
    private void Flush(RelaySession session, bool intoServer)
    {
        var direction = intoServer ? session.Up : session.Down;
        if (direction.Pending is { } pending)
        {
            var sent = Epoll.Send(intoServer ? session.ServerFd : session.ClientFd, pending.AsSpan(direction.Offset, direction.Count - direction.Offset));
            if (sent < 0 && sent != -Epoll.EAGAIN)
            {
                End(session, $"{(intoServer ? "server" : "client")} connection error: errno {-sent}");
                return;
            }

            direction.Offset += Math.Max(sent, 0);
            if (direction.Offset < direction.Count)
            {
                return;
            }

            ArrayPool<byte>.Shared.Return(pending);
            direction.Pending = null;
        }

        UpdateInterest(session);
    }

    /// <summary>A side is read while its direction has nothing pending, and watched for writability while the other direction has.</summary>
    private void UpdateInterest(RelaySession session)
    {
        var client = (session.Up.Pending is null ? ReadEvents : 0) | (session.Down.Pending is not null ? Epoll.Out : 0);
        var server = (session.Down.Pending is null ? ReadEvents : 0) | (session.Up.Pending is not null ? Epoll.Out : 0);
        if (client != session.ClientInterest)
        {
            Epoll.Modify(_epoll, session.ClientFd, (ulong)session.Id << 1, client);
            session.ClientInterest = client;
        }

        if (server != session.ServerInterest && session.ServerFd >= 0)
        {
            Epoll.Modify(_epoll, session.ServerFd, ((ulong)session.Id << 1) | 1, server);
            session.ServerInterest = server;
        }
    }

    private void CloseServer(RelaySession session)
    {
        if (session.ServerFd >= 0)
        {
            Epoll.Remove(_epoll, session.ServerFd);
            Epoll.Close(session.ServerFd);
            session.ServerFd = -1;
        }
    }

    private void End(RelaySession session, string reason)
    {
        if (session.IsEnded)
        {
            return;
        }

        CloseServer(session);
        Epoll.Remove(_epoll, session.ClientFd);
        Epoll.Close(session.ClientFd);
        _sessions.Remove(session.Id);
        session.Finish(reason);
    }
}
