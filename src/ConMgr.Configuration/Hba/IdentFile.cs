// IdentFile.cs: conmgr_ident.conf, pg_ident.conf's language: user name maps for the cert method's map= option.
using System.Text.RegularExpressions;

namespace ConMgr.Configuration.Hba;

/// <summary>One line: MAPNAME SYSTEM-USERNAME DATABASE-USERNAME; a system name starting with / is a regular expression whose first group may be put into the database name as \1.</summary>
public sealed record IdentLine(string Map, string SystemUser, Regex? SystemPattern, string DatabaseUser, string File, int LineNumber);

/// <summary>
/// PostgreSQL 15's pg_ident.conf (hba.c, parse_ident_line and check_ident_usermap): the same
/// tokenizer as conmgr_hba.conf, three fields per line, names compared case-sensitively, and a
/// map that has no line for the pair means no match. A file that does not exist holds no maps
/// (every <c>map=</c> then fails), as a missing pg_ident.conf gives the server.
/// </summary>
public sealed class IdentFile
{
    /// <summary>The file's default name in the conmgr directory.</summary>
    public const string DefaultName = "conmgr_ident.conf";

    private IdentFile(IReadOnlyList<IdentLine> lines) => Lines = lines;

    public static IdentFile Empty { get; } = new([]);

    public IReadOnlyList<IdentLine> Lines { get; }

    /// <exception cref="ConfigException">The file cannot be read or has a bad line.</exception>
    public static IdentFile Load(string path) => File.Exists(path) ? Parse(HbaFile.Read(path), path, HbaFile.Read) : Empty;

    public static IdentFile Parse(string text, string path, Func<string, string> readInclude)
    {
        var lines = new List<IdentLine>();
        foreach (var line in HbaTokenizer.Tokenize(text, path, readInclude))
        {
            string Single(int field, string what)
            {
                if (line.Fields.Count <= field)
                {
                    throw Error(line, "missing entry at end of line");
                }

                return line.Fields[field].Count == 1 ? line.Fields[field][0].Text : throw Error(line, $"multiple values in ident field ({what})");
            }

            var map = Single(0, "map name");
            var system = Single(1, "system user name");
            var database = Single(2, "database user name");
            if (line.Fields.Count > 3)
            {
                throw Error(line, "extra field at end of line");
            }

            Regex? pattern = null;
            if (system.StartsWith('/'))
            {
                try
                {
                    pattern = new Regex(system[1..], RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100));
                }
                catch (ArgumentException ex)
                {
                    throw Error(line, $"invalid regular expression \"{system[1..]}\": {ex.Message}");
                }
            }

            lines.Add(new IdentLine(map, system, pattern, database, line.File, line.Number));
        }

        return new IdentFile(lines);
    }

    /// <summary>True when map <paramref name="map"/> lets <paramref name="systemUser"/> (a certificate's name) log in as <paramref name="databaseUser"/>.</summary>
    public bool Matches(string map, string systemUser, string databaseUser)
    {
        ArgumentNullException.ThrowIfNull(systemUser);
        foreach (var line in Lines.Where(l => l.Map == map))
        {
            if (line.SystemPattern is { } pattern)
            {
                Match match;
                try
                {
                    match = pattern.Match(systemUser);
                }
                catch (RegexMatchTimeoutException)
                {
                    continue;
                }

                if (!match.Success)
                {
                    continue;
                }

                // \1 in the database user name is the first parenthesized group (PostgreSQL replaces only the first \1).
                var expected = line.DatabaseUser;
                var at = expected.IndexOf("\\1", StringComparison.Ordinal);
                if (at >= 0)
                {
                    if (match.Groups.Count < 2)
                    {
                        continue;
                    }

                    expected = expected[..at] + match.Groups[1].Value + expected[(at + 2)..];
                }

                if (expected == databaseUser)
                {
                    return true;
                }
            }
            else if (line.SystemUser == systemUser && line.DatabaseUser == databaseUser)
            {
                return true;
            }
        }

        return false;
    }

    private static ConfigException Error(HbaFileLine line, string message) =>
        new(line.File, line.Number, null, $"{message}\nline: {line.Text.Trim()}");
}
