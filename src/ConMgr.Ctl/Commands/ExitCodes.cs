// ExitCodes.cs: cm_ctl's exit statuses, the same as pg_ctl's.
namespace ConMgr.Ctl.Commands;

public static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;

    /// <summary>status: no conmgr is running in the directory (pg_ctl: 3).</summary>
    public const int NotRunning = 3;

    /// <summary>status: the directory is not accessible (pg_ctl: 4).</summary>
    public const int NoDirectory = 4;
}
