// PendingLease.cs: hands phase one's conmgr socket to the physical open it was asked for, through the open's async flow.
using System.Net.Sockets;

namespace ConMgr.Client.Pooling;

/// <summary>
/// The conmgr socket of a phase-one answer, on its way to the physical connection it will watch.
/// The open that asked conmgr sets <see cref="Current"/> and calls Npgsql; if Npgsql makes a new
/// physical connection, the physical connection initializer (same async flow) takes the socket
/// (<see cref="TryTake"/>). If Npgsql handed out an idle connection instead, nobody took it and
/// the opener reclaims and closes it (<see cref="TryReclaim"/>). For an early open the answer
/// is not there yet: the initializer waits for <see cref="Answer"/>, and a null answer (conmgr
/// named another instance) fails the physical open.
/// </summary>
internal sealed class PendingLease(InstancePool pool, bool early)
{
    private const int Free = 0;
    private const int Taken = 1;
    private const int Reclaimed = 2;

    private readonly TaskCompletionSource<Socket?> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _state;

    /// <summary>The lease of the open running in this async flow, if any.</summary>
    public static AsyncLocal<PendingLease?> Current { get; } = new();

    public InstancePool Pool { get; } = pool;

    /// <summary>Whether this lease belongs to an open started beside phase one, before conmgr answered.</summary>
    public bool Early { get; } = early;

    public bool IsTaken => Volatile.Read(ref _state) == Taken;

    /// <summary>conmgr's answer: the socket if it named <see cref="Pool"/>'s instance, null if not.</summary>
    public void Answer(Socket? socket)
    {
        if (!_answer.TrySetResult(socket))
        {
            socket?.Dispose();
        }
    }

    /// <summary>For the physical connection initializer: true if this open's socket is now its to keep.</summary>
    public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Free) == Free;

    /// <summary>The answered socket; once taken, the taker owns it.</summary>
    public Task<Socket?> SocketAsync(CancellationToken cancellationToken) => _answer.Task.WaitAsync(cancellationToken);

    /// <summary>For a taker that gave up waiting (cancelled): the socket, whenever it comes, is closed.</summary>
    public void CloseWhenAnswered() =>
        _ = _answer.Task.ContinueWith(static answer => answer.Result?.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    /// <summary>For the opener, after Npgsql returned: true if no physical open took the socket, which is then the opener's again.</summary>
    public bool TryReclaim() => Interlocked.CompareExchange(ref _state, Reclaimed, Free) == Free;
}
