// RuntimeEpoll.cs: takes a socket out of .NET's own epoll sets before a reactor of ours adopts it.
namespace ConMgr.Hosting.Posix;

/// <summary>
/// A socket that did asynchronous I/O through .NET is registered in the runtime's epoll set, and
/// epoll keeps a registration for as long as the open file lives: closing the .NET descriptor
/// after duplicating it does not remove it. Left there, every packet on an adopted socket would
/// also wake the runtime's epoll thread (measured: twice the epoll_wait calls and context
/// switches of the relay). <see cref="Forget"/> deletes the descriptor from every epoll set of
/// the process that is not one of ours, while the runtime's descriptor number is still open.
/// </summary>
public static class RuntimeEpoll
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Ours = [];
    private static int[]? s_runtime;

    /// <summary>Marks <paramref name="epoll"/> as one of ours (a reactor's), never to be touched by <see cref="Forget"/>.</summary>
    public static void Own(int epoll)
    {
        lock (Gate)
        {
            Ours.Add(epoll);
            s_runtime = null;
        }
    }

    /// <summary>
    /// A duplicate of <paramref name="socket"/>'s descriptor for a reactor of ours, with the socket
    /// taken out of the runtime's epoll sets. The caller then disposes the .NET socket (without a
    /// shutdown: the duplicate keeps the connection).
    /// </summary>
    public static int Adopt(System.Net.Sockets.Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var fd = Epoll.Duplicate(socket.Handle);
        try
        {
            Forget(socket.Handle);
        }
        catch
        {
            Epoll.Close(fd);
            throw;
        }

        return fd;
    }

    /// <summary>Removes <paramref name="fd"/> (the runtime's own descriptor number for the socket) from the runtime's epoll sets.</summary>
    public static void Forget(nint fd)
    {
        foreach (var epoll in RuntimeSets())
        {
            Epoll.Remove(epoll, (int)fd);
        }
    }

    /// <summary>The epoll descriptors of this process that are not ours: the runtime's socket engines (found once, then kept).</summary>
    private static int[] RuntimeSets()
    {
        lock (Gate)
        {
            return s_runtime ??= [.. Directory.EnumerateFileSystemEntries("/proc/self/fd")
                .Select(path => (Fd: int.TryParse(Path.GetFileName(path), out var fd) ? fd : -1, Target: Target(path)))
                .Where(e => e.Fd >= 0 && e.Target == "anon_inode:[eventpoll]" && !Ours.Contains(e.Fd))
                .Select(e => e.Fd)];
        }
    }

    private static string? Target(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
