// HeartbeatIncidents.cs: the heartbeat lines (ended, lost, re-established) that conmgr's and the server's logs gained since the last look.
namespace ConMgr.Bench;

/// <summary>Heartbeat incidents since the previous call, so a benchmark can say which run one happened in.</summary>
public sealed class HeartbeatIncidents(params string[] logFiles)
{
    private static readonly string[] Markers = ["no heartbeat received", "lost the heartbeat", "heartbeat from conmgr", "heartbeat to"];

    private readonly LogLines _lines = new(Markers, logFiles);

    public IReadOnlyList<string> Since() => _lines.Since();
}
