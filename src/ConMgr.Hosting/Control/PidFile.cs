// PidFile.cs: contents of conmgr.pid, written by conmgr and read by cm_ctl.
using System.Globalization;

namespace ConMgr.Hosting.Control;

/// <summary>
/// conmgr.pid, one value per line like postmaster.pid: PID, directory, start time (Unix
/// seconds), port, first listen address. It says who holds the lock; the lock says whether it is live.
/// </summary>
public sealed record PidFile(int Pid, string Directory, long StartTime, int Port, string ListenAddress)
{
    public string Format() =>
        string.Join('\n', Pid.ToString(CultureInfo.InvariantCulture), Directory, StartTime.ToString(CultureInfo.InvariantCulture), Port.ToString(CultureInfo.InvariantCulture), ListenAddress) + "\n";

    /// <summary>Parses the file; null when it is missing, empty or damaged.</summary>
    public static PidFile? TryRead(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (lines.Length < 5
            || !int.TryParse(lines[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            || !long.TryParse(lines[2], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !int.TryParse(lines[3], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
        {
            return null;
        }

        return new PidFile(pid, lines[1], start, port, lines[4]);
    }
}
