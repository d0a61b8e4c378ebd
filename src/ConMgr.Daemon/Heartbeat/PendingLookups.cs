// PendingLookups.cs: authentication lookups sent on one heartbeat link and not yet answered, by request id.
using System.Collections.Concurrent;
using ConMgr.Protocol.Heartbeat;

namespace ConMgr.Daemon.Heartbeat;

/// <summary>A lookup that got no answer: the link is down or too old, or the watchdog did not answer in time. The login fails with 08001.</summary>
public sealed class AuthLookupException(string message) : Exception(message)
{
    public AuthLookupException()
        : this("authentication lookup failed")
    {
    }

    public AuthLookupException(string message, Exception innerException)
        : this(message + ": " + innerException?.Message)
    {
    }
}

/// <summary>
/// Answers may come in any order; each completes the waiter with its id, once. An answer nobody
/// waits for (its login gave up) is dropped. When the link ends, every waiter fails at once, so
/// no login outlives its link.
/// </summary>
internal sealed class PendingLookups
{
    private readonly ConcurrentDictionary<uint, TaskCompletionSource<AuthLookupAnswerFrame>> _waiting = new();
    private uint _next;

    public (uint Id, Task<AuthLookupAnswerFrame> Answer) Start()
    {
        var source = new TaskCompletionSource<AuthLookupAnswerFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
        uint id;
        do
        {
            id = Interlocked.Increment(ref _next);
        }
        while (!_waiting.TryAdd(id, source));

        return (id, source.Task);
    }

    /// <summary>Reactor thread: the answer with this id, if someone still waits for it.</summary>
    public void Complete(AuthLookupAnswerFrame answer)
    {
        if (_waiting.TryRemove(answer.RequestId, out var source))
        {
            source.TrySetResult(answer);
        }
    }

    public void Fail(uint id, string reason)
    {
        if (_waiting.TryRemove(id, out var source))
        {
            source.TrySetException(new AuthLookupException(reason));
        }
    }

    public void Forget(uint id) => _waiting.TryRemove(id, out _);

    public void FailAll(string reason)
    {
        foreach (var id in _waiting.Keys)
        {
            Fail(id, reason);
        }
    }
}
