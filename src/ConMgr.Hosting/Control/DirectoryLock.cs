// DirectoryLock.cs: the exclusive lock that makes one conmgr per directory, and the pid file beside it.
namespace ConMgr.Hosting.Control;

/// <summary>
/// Holds an exclusive flock(2) on <c>conmgr.lock</c> for the life of the process (.NET takes
/// LOCK_EX for <see cref="FileShare.None"/> on Unix). The kernel drops the lock when the process
/// dies, even by <c>kill -9</c>, so a stale pid file never blocks the next start. Neither file is
/// ever opened through a symlink: a link found in their place is refused (the directory itself is
/// checked to be ours and closed to others, <see cref="DirectoryPermissions"/>, so none can be
/// planted between the check and the open), and the pid file is written as a new file (O_EXCL) and
/// renamed over the old one, which replaces a link rather than following it.
/// </summary>
public sealed class DirectoryLock : IDisposable
{
    private readonly ConMgrDirectory _directory;
    private readonly FileStream _lock;

    private DirectoryLock(ConMgrDirectory directory, FileStream lockStream)
    {
        _directory = directory;
        _lock = lockStream;
    }

    /// <summary>Takes the lock, retrying briefly so a concurrent status probe cannot make a start fail.</summary>
    public static DirectoryLock? TryAcquire(ConMgrDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (new FileInfo(directory.LockFile).LinkTarget is not null)
        {
            throw new IOException($"lock file \"{directory.LockFile}\" is a symbolic link: refusing to open it");
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var stream = new FileStream(directory.LockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                return new DirectoryLock(directory, stream);
            }
            catch (IOException) when (attempt < 10)
            {
                Thread.Sleep(20);
            }
            catch (IOException)
            {
                return null;
            }
        }
    }

    /// <summary>
    /// True when a live process holds the lock. Probes with a shared lock, which two probes may
    /// hold at once and which conflicts only with a running conmgr's exclusive lock.
    /// </summary>
    public static bool IsHeld(ConMgrDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        try
        {
            using var probe = new FileStream(directory.LockFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Writes conmgr.pid atomically (temp file, then rename).</summary>
    public void WritePidFile(PidFile contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        var temp = _directory.PidFile + ".tmp";
        File.Delete(temp);
        using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead }))
        {
            stream.Write(System.Text.Encoding.UTF8.GetBytes(contents.Format()));
        }

        File.Move(temp, _directory.PidFile, overwrite: true);
    }

    public void Dispose()
    {
        TryDelete(_directory.PidFile);
        TryDelete(_directory.ControlSocket);
        _lock.Dispose();
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
    }
}
