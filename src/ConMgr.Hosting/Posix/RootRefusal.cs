// RootRefusal.cs: the pg_ctl-style refusal to run as root.
namespace ConMgr.Hosting.Posix;

/// <summary>conmgr and cm_ctl refuse to run as root, like pg_ctl and postgres.</summary>
public static class RootRefusal
{
    /// <summary>The message pg_ctl prints, adapted; null when the process is not root.</summary>
    public static string? Check(string program, string owner) =>
        Libc.IsRoot
            ? $"{program}: cannot be run as root\nPlease log in (using, e.g., \"su\") as the (unprivileged) user that will own the {owner} process."
            : null;
}
