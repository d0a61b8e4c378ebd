// UnixSocketFile.cs: a listening Unix socket .s.PGSQL.<port> with its lock file, created and removed as the postmaster does.
using System.Globalization;
using System.Net.Sockets;
using ConMgr.Hosting.Posix;

namespace ConMgr.Hosting.Network;

/// <summary>
/// Binds <c>dir/.s.PGSQL.&lt;port&gt;</c>. Like the postmaster, it first takes
/// <c>.s.PGSQL.&lt;port&gt;.lock</c> (created with O_EXCL, so a planted symlink is never
/// followed): a lock whose pid is alive means another server owns the socket and nothing is
/// touched; a stale one (its process is gone) is removed with the stale socket. The socket gets
/// <c>unix_socket_permissions</c>; both files are removed on <see cref="Dispose"/>. A local
/// application that connects here needs no TCP port, which another local user could bind while
/// conmgr is down.
/// </summary>
public sealed class UnixSocketFile : IDisposable
{
    private UnixSocketFile(string path, Socket socket)
    {
        SocketPath = path;
        Socket = socket;
    }

    public string SocketPath { get; }

    public string LockPath => SocketPath + ".lock";

    public Socket Socket { get; }

    /// <summary>The socket's path in <paramref name="directory"/> for <paramref name="port"/>, as libpq computes it.</summary>
    public static string PathFor(string directory, int port) => Path.Combine(directory, $".s.PGSQL.{port.ToString(CultureInfo.InvariantCulture)}");

    /// <exception cref="SocketLockedException">The lock is held by a live process.</exception>
    /// <exception cref="IOException">A file cannot be created (no such directory, no permission).</exception>
    public static UnixSocketFile Create(string directory, int port, int mode, int backlog = 512)
    {
        var path = PathFor(directory, port);
        TakeLock(path + ".lock");
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            File.Delete(path);
            socket.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, (UnixFileMode)mode);
            socket.Listen(backlog);
            return new UnixSocketFile(path, socket);
        }
        catch
        {
            socket.Dispose();
            File.Delete(path + ".lock");
            throw;
        }
    }

    /// <summary>Stops listening and removes the socket and its lock, unless they are no longer ours.</summary>
    public void Dispose()
    {
        Socket.Dispose();
        if (LockOwner(LockPath) == Environment.ProcessId)
        {
            File.Delete(SocketPath);
            File.Delete(LockPath);
        }
    }

    private static void TakeLock(string lockPath)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var stream = new FileStream(lockPath, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
                using var writer = new StreamWriter(stream);
                writer.Write(string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessId}\n"));
                return;
            }
            catch (IOException) when (File.Exists(lockPath) || new FileInfo(lockPath).LinkTarget is not null)
            {
                var owner = LockOwner(lockPath);
                if (owner is { } pid && pid != Environment.ProcessId && Libc.IsAlive(pid) || attempt >= 3)
                {
                    throw new SocketLockedException($"lock file \"{lockPath}\" already exists{(owner is { } p ? $": is another server (PID {p}) using socket file \"{lockPath[..^5]}\"?" : string.Empty)}");
                }

                // PostgreSQL's rule: a lock whose process is gone (or that names no process) is stale.
                // One that cannot be removed (another user's, in a sticky directory) is fatal, as there.
                try
                {
                    File.Delete(lockPath);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw new SocketLockedException($"could not remove old lock file \"{lockPath}\": {ex.Message}: the file seems accidentally left over, but it could not be removed; remove it by hand and try again");
                }
            }
        }
    }

    /// <summary>The pid in a lock file; null when it is missing, a symlink, unreadable or not a number. Reads at most 64 bytes.</summary>
    private static int? LockOwner(string lockPath)
    {
        try
        {
            if (new FileInfo(lockPath).LinkTarget is not null)
            {
                return null;
            }

            using var stream = new FileStream(lockPath, FileMode.Open, FileAccess.Read);
            Span<byte> head = stackalloc byte[64];
            var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            var text = System.Text.Encoding.ASCII.GetString(head[..read]);
            var line = text.Split('\n')[0].Trim();
            return int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0 ? pid : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Another live process holds a socket's lock file, or a stale one cannot be removed: PostgreSQL makes both fatal, and so does conmgr.</summary>
public sealed class SocketLockedException(string message) : IOException(message);
