// DirectoryPermissions.cs: the conmgr directory is checked as PostgreSQL checks its data directory: ours, and no access for others.
namespace ConMgr.Hosting.Control;

/// <summary>
/// What the postmaster's checkDataDir does for a data directory, for the conmgr directory: it holds
/// the lock and pid files, the control socket and the heartbeat secret, so another user able to
/// write there could plant a symlink where conmgr writes, or replace its configuration. It must be
/// owned by the user conmgr runs as and be u=rwx (0700) or u=rwx,g=rx (0750).
/// </summary>
public static class DirectoryPermissions
{
    /// <summary>Why <paramref name="directory"/> may not be used, or null.</summary>
    public static string? Check(string directory)
    {
        var owner = Posix.Libc.OwnerOf(directory);
        if (owner < 0)
        {
            return $"could not read the permissions of directory \"{directory}\"";
        }

        if (owner != Posix.Libc.EffectiveUserId)
        {
            return $"directory \"{directory}\" has wrong ownership; the server must be started by the user that owns the directory";
        }

        var mode = File.GetUnixFileMode(directory);
        const UnixFileMode Allowed = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;
        if ((mode & ~Allowed) != 0)
        {
            return $"directory \"{directory}\" has invalid permissions; permissions should be u=rwx (0700) or u=rwx,g=rx (0750)";
        }

        return null;
    }
}
