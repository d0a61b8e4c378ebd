// HbaTokenizer.cs: splits authentication-file lines into fields of tokens exactly as PostgreSQL's hba.c (next_token, next_field_expand).
using System.Text;

namespace ConMgr.Configuration.Hba;

/// <summary>One line of fields, where it came from, and its text (for messages).</summary>
public sealed record HbaFileLine(string File, int Number, string Text, IReadOnlyList<IReadOnlyList<HbaToken>> Fields);

/// <summary>
/// PostgreSQL's tokenizer for pg_hba.conf and pg_ident.conf. Blanks separate fields; an unquoted
/// comma separates the tokens of one field; <c>#</c> outside quotes starts a comment; inside double
/// quotes blanks, commas and <c>#</c> are text and <c>""</c> is a quote; a line ending in a
/// backslash continues on the next. An unquoted <c>@file</c> token is replaced by every token of
/// that file (relative to the including file's directory), nested up to
/// <see cref="MaxIncludeDepth"/> deep. Limits, as the server's: a token is at most
/// <see cref="MaxTokenLength"/> bytes, and a file at most <see cref="MaxFileBytes"/>.
/// </summary>
public static class HbaTokenizer
{
    /// <summary>PostgreSQL's MAX_TOKEN (hba.c) less its terminator.</summary>
    public const int MaxTokenLength = 10239;

    /// <summary>PostgreSQL's CONF_FILE_MAX_DEPTH.</summary>
    public const int MaxIncludeDepth = 10;

    /// <summary>conmgr's own bound on one authentication file: far beyond any real one, small enough to read whole.</summary>
    public const int MaxFileBytes = 16 * 1024 * 1024;

    /// <summary>The lines of <paramref name="text"/> that hold at least one field (blank and comment-only lines are skipped).</summary>
    /// <param name="readInclude">Reads an @-included file by absolute path (the caller's file system, or a test's).</param>
    public static IReadOnlyList<HbaFileLine> Tokenize(string text, string file, Func<string, string> readInclude, int depth = 0)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(readInclude);
        var lines = new List<HbaFileLine>();
        var physical = text.Split('\n');
        for (var i = 0; i < physical.Length; i++)
        {
            var number = i + 1;
            var line = new StringBuilder(physical[i].TrimEnd('\r'));

            // A trailing backslash continues the line (PostgreSQL 14 and later).
            while (line.Length > 0 && line[^1] == '\\' && i + 1 < physical.Length)
            {
                line.Length--;
                line.Append(physical[++i].TrimEnd('\r'));
            }

            var lineText = line.ToString();
            var fields = new List<IReadOnlyList<HbaToken>>();
            var position = 0;
            while (position < lineText.Length)
            {
                var field = NextField(lineText, ref position, file, number, readInclude, depth);
                if (field.Count == 0)
                {
                    break;
                }

                fields.Add(field);
            }

            if (fields.Count > 0)
            {
                lines.Add(new HbaFileLine(file, number, lineText, fields));
            }
        }

        return lines;
    }

    /// <summary>The tokens of one field: a comma-separated list, @files expanded in place.</summary>
    private static List<HbaToken> NextField(string line, ref int position, string file, int number, Func<string, string> readInclude, int depth)
    {
        var tokens = new List<HbaToken>();
        bool trailingComma;
        do
        {
            if (NextToken(line, ref position, out trailingComma, file, number) is not { } found)
            {
                break;
            }

            if (!found.Quoted && found.Text.Length > 1 && found.Text[0] == '@')
            {
                tokens.AddRange(Include(found.Text[1..], file, number, readInclude, depth + 1));
            }
            else
            {
                tokens.Add(found);
            }
        }
        while (trailingComma);

        return tokens;
    }

    private static HbaToken? NextToken(string line, ref int position, out bool trailingComma, string file, int number)
    {
        trailingComma = false;

        // Move over any blanks and commas before the token.
        while (position < line.Length && (IsBlank(line[position]) || line[position] == ','))
        {
            position++;
        }

        var buffer = new StringBuilder();
        bool inQuote = false, wasQuote = false, sawQuote = false, initialQuote = false;
        while (position < line.Length && (!IsBlank(line[position]) || inQuote))
        {
            var c = line[position];
            if (c == '#' && !inQuote)
            {
                position = line.Length;
                break;
            }

            if (buffer.Length >= MaxTokenLength)
            {
                throw new ConfigException(file, number, null, $"authentication file token too long, skipping: \"{buffer}\"");
            }

            if (c == ',' && !inQuote)
            {
                trailingComma = true;
                position++;
                break;
            }

            if (c != '"' || wasQuote)
            {
                buffer.Append(c);
            }

            // A literal double quote is two double quotes.
            wasQuote = inQuote && c == '"' && !wasQuote;
            if (c == '"')
            {
                inQuote = !inQuote;
                sawQuote = true;
                if (buffer.Length == 0)
                {
                    initialQuote = true;
                }
            }

            position++;
        }

        return sawQuote || buffer.Length > 0 ? new HbaToken(buffer.ToString(), initialQuote) : null;
    }

    private static IEnumerable<HbaToken> Include(string name, string file, int number, Func<string, string> readInclude, int depth)
    {
        var path = Path.IsPathRooted(name) ? name : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file)) ?? "/", name);
        if (depth > MaxIncludeDepth)
        {
            throw new ConfigException(file, number, null, $"could not open file \"{path}\": maximum nesting depth exceeded");
        }

        string text;
        try
        {
            text = readInclude(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(file, number, null, $"could not open secondary authentication file \"@{name}\" as \"{path}\": {ex.Message}");
        }

        return Tokenize(text, path, readInclude, depth).SelectMany(l => l.Fields).SelectMany(f => f);
    }

    /// <summary>PostgreSQL's pg_isblank: space, tab, carriage return (a newline ends the line before this).</summary>
    private static bool IsBlank(char c) => c is ' ' or '\t' or '\r';
}
