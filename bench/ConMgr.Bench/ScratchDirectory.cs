// ScratchDirectory.cs: a benchmark's own directory under the test root (a peer's config and logs), removed when the benchmark ends.
using ConMgr.Testing;

namespace ConMgr.Bench;

public sealed class ScratchDirectory : IDisposable
{
    public ScratchDirectory(string prefix)
    {
        Path = System.IO.Path.Combine(PgCluster.TestRoot, $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Declare it before the processes that use it, so they are stopped first.</summary>
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
