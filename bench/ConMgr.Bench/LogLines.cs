// LogLines.cs: the lines with given markers that a set of logs gained since the last look.
namespace ConMgr.Bench;

/// <summary>Reads only what each log gained since the previous call, so a benchmark can say which run a line belongs to.</summary>
public sealed class LogLines(string[] markers, params string[] logFiles)
{
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
            lines.AddRange(text.Split('\n').Where(l => markers.Any(m => l.Contains(m, StringComparison.Ordinal))));
        }

        return lines;
    }
}
