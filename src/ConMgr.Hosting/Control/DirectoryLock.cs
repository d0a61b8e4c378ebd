// DirectoryLock.cs: the exclusive lock that makes one conmgr per directory, and the pid file beside it.
namespace ConMgr.Hosting.Control;

/// <summary>
/// Holds an exclusive flock(2) on <c>conmgr.lock</c> for the life of the process (.NET takes
/// LOCK_EX for <see cref="FileShare.None"/> on Unix). The kernel drops the lock when the process
/// dies, even by <c>kill -9</c>, so a stale pid file never blocks the next start.
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
        File.WriteAllText(temp, contents.Format());
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
