// HeartbeatIncidents.cs: the heartbeat lines (ended, lost, re-established) that conmgr's and the server's logs gained since the last look.
namespace ConMgr.Bench;

/// <summary>Reads only what each log gained since the previous call, so a benchmark can say which run a heartbeat incident happened in.</summary>
public sealed class HeartbeatIncidents(params string[] logFiles)
{
    private static readonly string[] Markers = ["no heartbeat received", "lost the heartbeat", "heartbeat from conmgr", "heartbeat to"];

    private readonly long[] _offsets = logFiles.Select(f => File.Exists(f) ? new FileInfo(f).Length : 0).ToArray();

    public IReadOnlyList<string> Since()
    {
        var lines = new List<string>();
        for (var i = 0; i < logFiles.Length; i++)
        {
            if (!File.Exists(logFiles[i]))
            {
                continue;
            }

            using var stream = new FileStream(logFiles[i], FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            stream.Seek(_offsets[i], SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var text = reader.ReadToEnd();
            _offsets[i] = stream.Position;
            lines.AddRange(text.Split('\n').Where(l => Markers.Any(m => l.Contains(m, StringComparison.Ordinal))));
        }

        return lines;
    }
}
