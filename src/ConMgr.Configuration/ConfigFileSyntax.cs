// ConfigFileSyntax.cs: the postgresql.conf-style line syntax shared by conmgr.conf.
using System.Text;

namespace ConMgr.Configuration;

/// <summary>
/// Splits a configuration text into <see cref="ConfigEntry"/> lines, following postgresql.conf:
/// one <c>name [=] value</c> per line, <c>#</c> starts a comment outside quotes, values may be
/// single-quoted with <c>''</c> or backslash escapes, names are case-insensitive.
/// </summary>
public static class ConfigFileSyntax
{
    /// <summary>Longest line accepted; a longer one is an error, not silently truncated.</summary>
    public const int MaxLineLength = 8192;

    public static IReadOnlyList<ConfigEntry> Parse(string text, string file)
    {
        ArgumentNullException.ThrowIfNull(text);
        var entries = new List<ConfigEntry>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length > MaxLineLength)
            {
                throw new ConfigException(file, i + 1, null, $"line is longer than {MaxLineLength} characters");
            }

            var entry = ParseLine(line, file, i + 1);
            if (entry is not null)
            {
                entries.Add(entry);
            }
        }

        return entries;
    }

    private static ConfigEntry? ParseLine(string line, string file, int lineNumber)
    {
        var pos = SkipSpace(line, 0);
        if (pos == line.Length || line[pos] == '#')
        {
            return null;
        }

        var nameStart = pos;
        while (pos < line.Length && IsNameChar(line[pos]))
        {
            pos++;
        }

        if (pos == nameStart)
        {
            throw new ConfigException(file, lineNumber, null, $"syntax error near \"{Excerpt(line, pos)}\": expected a parameter name");
        }

        var name = line[nameStart..pos].ToLowerInvariant();
        pos = SkipSpace(line, pos);
        if (pos < line.Length && line[pos] == '=')
        {
            pos = SkipSpace(line, pos + 1);
        }

        if (pos == line.Length || line[pos] == '#')
        {
            throw new ConfigException(file, lineNumber, name, "missing value");
        }

        string value;
        var quoted = line[pos] == '\'';
        if (quoted)
        {
            value = ReadQuoted(line, ref pos, file, lineNumber, name);
        }
        else
        {
            var valueStart = pos;
            while (pos < line.Length && !char.IsWhiteSpace(line[pos]) && line[pos] is not ('#' or '\'' or '='))
            {
                pos++;
            }

            value = line[valueStart..pos];
        }

        pos = SkipSpace(line, pos);
        if (pos < line.Length && line[pos] != '#')
        {
            throw new ConfigException(file, lineNumber, name, $"syntax error near \"{Excerpt(line, pos)}\": one value per line (quote values that contain spaces)");
        }

        return new ConfigEntry(name, value, quoted, lineNumber);
    }

    private static string ReadQuoted(string line, ref int pos, string file, int lineNumber, string name)
    {
        var builder = new StringBuilder();
        pos++;
        while (pos < line.Length)
        {
            var c = line[pos];
            if (c == '\'')
            {
                if (pos + 1 < line.Length && line[pos + 1] == '\'')
                {
                    builder.Append('\'');
                    pos += 2;
                    continue;
                }

                pos++;
                return builder.ToString();
            }

            if (c == '\\' && pos + 1 < line.Length)
            {
                builder.Append(line[pos + 1] switch
                {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    'b' => '\b',
                    'f' => '\f',
                    var other => other,
                });
                pos += 2;
                continue;
            }

            builder.Append(c);
            pos++;
        }

        throw new ConfigException(file, lineNumber, name, "unterminated quoted string");
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.';

    private static int SkipSpace(string line, int pos)
    {
        while (pos < line.Length && char.IsWhiteSpace(line[pos]))
        {
            pos++;
        }

        return pos;
    }

    private static string Excerpt(string line, int pos) => line.Length - pos > 20 ? line.Substring(pos, 20) : line[pos..];
}
