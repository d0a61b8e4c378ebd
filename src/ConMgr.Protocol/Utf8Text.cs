// Utf8Text.cs: text cut to a byte budget in UTF-8, at a character boundary (a frame's reason, a role name as the server cuts it).
using System.Text;

namespace ConMgr.Protocol;

public static class Utf8Text
{
    /// <summary>The longest prefix of <paramref name="text"/> whose UTF-8 is at most <paramref name="maxBytes"/> bytes, never ending inside a surrogate pair.</summary>
    public static string Cut(string text, int maxBytes)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        var end = text.Length;
        while (end > 0 && (Encoding.UTF8.GetByteCount(text.AsSpan(0, end)) > maxBytes || char.IsHighSurrogate(text[end - 1])))
        {
            end--;
        }

        return text[..end];
    }
}
