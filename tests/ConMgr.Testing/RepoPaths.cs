// RepoPaths.cs: where the repository and its published executables are.
namespace ConMgr.Testing;

public static class RepoPaths
{
    /// <summary>The repository root: the nearest ancestor of the test binaries holding global.json.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>out/bin, where build.sh publishes conmgr, cm_ctl and cm_watchdog.</summary>
    public static string Bin => Path.Combine(Root, "out", "bin");

    /// <summary>Path of a published executable; a clear error when build.sh has not been run.</summary>
    public static string Executable(string name)
    {
        var path = Path.Combine(Bin, name);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run ./build.sh first");
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "global.json")) && Directory.Exists(Path.Combine(dir.FullName, "src")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("repository root (global.json) not found above " + AppContext.BaseDirectory);
    }
}
