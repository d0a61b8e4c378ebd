// PeerText.cs: text a peer chose (a Goodbye's reason, an application name), made safe to print: no terminal escape sequence, no forged log line.
using System.Globalization;
using System.Text;

namespace ConMgr.Protocol;

/// <summary>
/// Control characters (C0 with newline and tab, DEL, C1, which includes the 8-bit CSI) and the
/// Unicode format characters that reorder or hide text (bidi overrides, zero-width ones) are shown
/// as <c>\xNN</c> or <c>\u{NNNN}</c>, so what a stranger sends can neither drive the operator's
/// terminal nor start a line of its own in the server log. Escaping is idempotent (a backslash is
/// left as it is), so text escaped where it was received (a Goodbye) and again where it is printed
/// (cm_ctl status) reads the same.
/// </summary>
public static class PeerText
{
    public static string Escape(string text) => Escape(text, keepLines: false);

    /// <summary>
    /// A whole log message made safe to write: escaped as <see cref="Escape(string)"/>, except that
    /// a newline stays and the next line starts with a tab, as PostgreSQL's server log writes
    /// continuation lines (elog.c's append_with_tabs). A message that quotes a peer (a database name
    /// in the server's error, a reason) can then neither drive a terminal nor begin a line that
    /// reads as a record of its own.
    /// </summary>
    public static string ForLog(string message) => Escape(message, keepLines: true);

    private static string Escape(string text, bool keepLines)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!NeedsEscape(text))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (c == '\n' && keepLines)
            {
                builder.Append("\n\t");
            }
            else if (c < 0x20 || c is >= (char)0x7F and <= (char)0x9F)
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:X2}");
            }
            else if (char.GetUnicodeCategory(c) == UnicodeCategory.Format)
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{{{(int)c:X4}}}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    private static bool NeedsEscape(string text)
    {
        foreach (var c in text)
        {
            if (c < 0x20 || c is >= (char)0x7F and <= (char)0x9F || char.GetUnicodeCategory(c) == UnicodeCategory.Format)
            {
                return true;
            }
        }

        return false;
    }
}
