// RelaySession.cs: one plaintext proxied session as the relay reactor holds it: two descriptors, what waits in each direction, the server's message boundaries.
using System.Buffers;
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>Bytes read from one side that the other side has not taken yet.</summary>
internal sealed class RelayDirection
{
    public byte[]? Pending { get; set; }

    public int Offset { get; set; }

    public int Count { get; set; }
}

/// <summary>
/// The state of one session in a <see cref="RelayReactor"/>; touched only on the reactor's thread
/// except for the two tasks. It owns the descriptors once started: the reactor closes both when
/// the session ends.
/// </summary>
public sealed class RelaySession : IRelay
{
    private readonly RelayReactor _reactor;
    private readonly ServerFollower _server;
    private readonly TaskCompletionSource<string> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal RelaySession(RelayReactor reactor, int clientFd, int serverFd, InstanceSettings instance, CancelKeys keys, ApplicationConnection client, ServerLog log)
    {
        _reactor = reactor;
        ClientFd = clientFd;
        ServerFd = serverFd;
        _server = new ServerFollower(keys, instance, client, log);
    }

    internal long Id { get; set; }

    internal int ClientFd { get; }

    internal int ServerFd { get; set; }

    internal uint ClientInterest { get; set; }

    internal uint ServerInterest { get; set; }

    internal RelayDirection Up { get; } = new();

    internal RelayDirection Down { get; } = new();

    internal ServerMessageTracker Tracker => _server.Tracker;

    internal TaskCompletionSource<bool> StopResult { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal bool IsEnded => _ended.Task.IsCompleted;

    /// <summary>Completes, with the reason, when the session has ended and both descriptors are closed.</summary>
    public Task<string> Ended => _ended.Task;

    /// <summary>Starts relaying on the reactor.</summary>
    public Task<string> RunAsync()
    {
        _reactor.Start(this);
        return Ended;
    }

    /// <inheritdoc/>
    public Task<bool> StopAtBoundaryAsync(byte[]? errorResponse)
    {
        _reactor.Stop(this, errorResponse);
        return StopResult.Task;
    }

    /// <summary>Follows the server's bytes (boundaries, the cancel key); false with <paramref name="error"/>, logged, when they are not PostgreSQL's protocol.</summary>
    internal bool FollowServer(Span<byte> bytes, out string? error) => _server.Follow(bytes, out error);

    internal void Relayed(bool fromServer, int bytes) => _server.Relayed(fromServer, bytes);

    /// <summary>Called by the reactor once both descriptors are closed.</summary>
    internal void Finish(string reason)
    {
        foreach (var direction in new[] { Up, Down })
        {
            if (direction.Pending is { } pending)
            {
                ArrayPool<byte>.Shared.Return(pending);
                direction.Pending = null;
            }
        }

        _server.Release();
        StopResult.TrySetResult(false);
        _ended.TrySetResult(reason);
    }
}
