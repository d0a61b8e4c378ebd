// ConMgrDirectory.cs: the files a conmgr keeps in its dedicated directory (-D / CMDATA).
namespace ConMgr.Hosting.Control;

/// <summary>
/// The dedicated directory of one conmgr process (seed 2.1.1) and the names of the files in it:
/// <c>conmgr.conf</c>, <c>conmgr.pid</c>, <c>conmgr.lock</c> and the control socket.
/// </summary>
public sealed class ConMgrDirectory
{
    public const string EnvironmentVariable = "CMDATA";

    /// <summary>sun_path holds 108 bytes including the terminator.</summary>
    public const int MaxSocketPathBytes = 107;

    public ConMgrDirectory(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
    }

    public string Path { get; }

    public string ConfigFile => System.IO.Path.Combine(Path, "conmgr.conf");

    public string PidFile => System.IO.Path.Combine(Path, "conmgr.pid");

    public string LockFile => System.IO.Path.Combine(Path, "conmgr.lock");

    /// <summary>Unix socket on which cm_ctl asks for status; named like PostgreSQL's .s.PGSQL.nnnn.</summary>
    public string ControlSocket => System.IO.Path.Combine(Path, ".s.conmgr.ctl");

    /// <summary>The directory from <c>-D</c>, else from <c>CMDATA</c>, else null.</summary>
    public static ConMgrDirectory? Resolve(string? option)
    {
        var path = string.IsNullOrEmpty(option) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : option;
        return string.IsNullOrEmpty(path) ? null : new ConMgrDirectory(path);
    }
}
