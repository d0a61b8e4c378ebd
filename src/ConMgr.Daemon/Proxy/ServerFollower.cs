// ServerFollower.cs: what both relays do with the server's bytes: follow message boundaries and swap the cancel key.
using ConMgr.Configuration;
using ConMgr.Daemon.Clients;
using ConMgr.Hosting.Logging;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// Wraps a session's <see cref="ServerMessageTracker"/>: the client's key is reserved when the
/// server's BackendKeyData starts to pass, bound to the server's key once it has passed whole,
/// and given back when the session ends. Bytes that are not PostgreSQL's protocol are logged here,
/// for both relays.
/// </summary>
internal sealed class ServerFollower(CancelKeys keys, InstanceSettings instance, ApplicationConnection client, ServerLog log)
{
    private bool _registered;

    public ServerMessageTracker Tracker { get; } = new(keys.Reserve);

    /// <summary>Follows the next bytes from the server (rewriting the key in place); false with <paramref name="error"/>, logged, when they are not PostgreSQL's protocol.</summary>
    public bool Follow(Span<byte> bytes, out string? error)
    {
        if (!Tracker.Advance(bytes, out error))
        {
            log.Log($"closing proxied session of {client.Describe()} on instance {instance.Number}: {error}");
            return false;
        }

        if (!_registered && Tracker.ServerKey is { } serverKey)
        {
            keys.Register(Tracker.ClientKey!, serverKey, instance);
            _registered = true;
        }

        return true;
    }

    /// <summary>Counts bytes one of the relays passed on, for the port's metrics.</summary>
    public void Relayed(bool fromServer, int bytes) => Diagnostics.ConMgrMetrics.RecordRelayed(client.Port ?? "resolve", fromServer, bytes);

    /// <summary>The session ended: its key no longer cancels anything.</summary>
    public void Release()
    {
        if (Tracker.ClientKey is { } key)
        {
            keys.Remove(key);
        }
    }
}
