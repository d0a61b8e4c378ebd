// CancelKeys.cs: the cancel keys conmgr gives proxied clients, and the server keys they stand for.
using System.Collections.Concurrent;
using System.Security.Cryptography;
using ConMgr.Configuration;
using ConMgr.Protocol.Postgres;

namespace ConMgr.Daemon.Proxy;

/// <summary>
/// Every proxied client gets a BackendKeyData of conmgr's own: a random process id unique among
/// live sessions and a random secret as long as the server's. A CancelRequest quoting it, on any
/// conmgr port, is forwarded with the server's real key to the instance that owns the session. A
/// client never learns a server key, so it cannot cancel another conmgr client's query on the
/// server directly, and a key is only good while its session lives.
/// </summary>
public sealed class CancelKeys
{
    private readonly ConcurrentDictionary<int, Entry> _entries = new();

    /// <summary>Live sessions with a key (reserved or registered).</summary>
    public int Count => _entries.Count;

    /// <summary>A new client key with a <paramref name="secretLength"/>-byte secret; its process id is reserved until <see cref="Remove"/>.</summary>
    public BackendKeyData Reserve(int secretLength)
    {
        var secret = RandomNumberGenerator.GetBytes(secretLength);
        while (true)
        {
            // Positive, like a real process id: some clients print it.
            var pid = RandomNumberGenerator.GetInt32(1, int.MaxValue);
            if (_entries.TryAdd(pid, new Entry(secret, null, null)))
            {
                return new BackendKeyData(pid, secret);
            }
        }
    }

    /// <summary>Binds a reserved client key to the server's key and the instance that issued it.</summary>
    public void Register(BackendKeyData client, BackendKeyData server, InstanceSettings instance)
    {
        ArgumentNullException.ThrowIfNull(client);
        _entries[client.ProcessId] = new Entry(client.SecretKey, server, instance);
    }

    /// <summary>Binds a reserved client key to a pooled session: the server a cancel goes to is the one the client is linked to when the cancel arrives.</summary>
    public void Register(BackendKeyData client, ICancelTarget target)
    {
        ArgumentNullException.ThrowIfNull(client);
        _entries[client.ProcessId] = new Entry(client.SecretKey, null, null, target);
    }

    public void Remove(BackendKeyData client)
    {
        ArgumentNullException.ThrowIfNull(client);
        _entries.TryRemove(client.ProcessId, out _);
    }

    /// <summary>
    /// The server key and instance for <paramref name="request"/>, or null; the secret is compared
    /// in constant time. <c>Done</c>, when there is one, must be called once the cancel was delivered
    /// (or failed): until then a pooled server connection is not handed to another client.
    /// </summary>
    public CancelDestination? Find(CancelRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!_entries.TryGetValue(request.ProcessId, out var entry)
            || entry.ClientSecret.Length != request.SecretKey.Length
            || !CryptographicOperations.FixedTimeEquals(entry.ClientSecret, request.SecretKey))
        {
            return null;
        }

        if (entry.Target is { } target)
        {
            return target.BeginCancel();
        }

        return entry.Server is null || entry.Instance is null ? null : new CancelDestination(entry.Server, entry.Instance, null);
    }

    private sealed record Entry(byte[] ClientSecret, BackendKeyData? Server, InstanceSettings? Instance, ICancelTarget? Target = null);
}

/// <summary>Where a cancel goes: the server's key, its instance, and what to call once it was delivered.</summary>
public sealed record CancelDestination(BackendKeyData Server, InstanceSettings Instance, Action? Done);

/// <summary>A pooled session: its cancel goes to the server it is linked to now, or nowhere.</summary>
public interface ICancelTarget
{
    /// <summary>The linked server, held out of the pool until <see cref="CancelDestination.Done"/>; null when the client has no server now (nothing runs to cancel).</summary>
    CancelDestination? BeginCancel();
}
