// HbaFile.cs: reads conmgr_hba.conf whole: every rule, or the first error with its file, line and text.
namespace ConMgr.Configuration.Hba;

/// <summary>
/// The rules of one authentication file, in file order (the first that matches decides). Loading is
/// all or nothing, as the postmaster's reload of pg_hba.conf is: a file with a bad line yields an
/// error naming <c>file:line</c> and quoting the line, and the caller keeps the rules it had.
/// </summary>
public sealed class HbaFile
{
    private HbaFile(string path, IReadOnlyList<HbaRule> rules)
    {
        Path = path;
        Rules = rules;
    }

    /// <summary>The file's default name in the conmgr directory.</summary>
    public const string DefaultName = "conmgr_hba.conf";

    public string Path { get; }

    public IReadOnlyList<HbaRule> Rules { get; }

    /// <summary>Reads and parses <paramref name="path"/>; @-included files are read from the file system.</summary>
    /// <exception cref="ConfigException">The file (or one it includes) cannot be read or has a bad line.</exception>
    public static HbaFile Load(string path) => Parse(Read(path), path, Read);

    /// <summary>Parses <paramref name="text"/> as the contents of <paramref name="path"/>.</summary>
    public static HbaFile Parse(string text, string path, Func<string, string> readInclude)
    {
        var rules = new List<HbaRule>();
        foreach (var line in HbaTokenizer.Tokenize(text, path, readInclude))
        {
            try
            {
                rules.Add(HbaParser.Parse(line));
            }
            catch (ConfigException ex)
            {
                throw new ConfigException(ex.File, ex.Line, null, $"{ex.Problem}\nline: {line.Text.Trim()}");
            }
        }

        return new HbaFile(path, rules);
    }

    /// <summary>The file as text; its size is checked before it is read (<see cref="HbaTokenizer.MaxFileBytes"/>).</summary>
    internal static string Read(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > HbaTokenizer.MaxFileBytes)
            {
                throw new ConfigException(path, 0, null, $"authentication file is larger than {HbaTokenizer.MaxFileBytes} bytes");
            }

            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, 0, null, $"could not open configuration file: {ex.Message}");
        }
    }
}
