// TextTable.cs: psql-style aligned tables for cm_ctl status.
using System.Text;
using ConMgr.Protocol;

namespace ConMgr.Ctl.Commands;

/// <summary>
/// Formats rows under a header the way psql prints a result: " a | b" with a dashed rule. Every
/// cell is printed through <see cref="PeerText.Escape"/>: application names, error texts and
/// reasons come from peers, and none may send an escape sequence to the operator's terminal.
/// </summary>
public static class TextTable
{
    public static string Format(IReadOnlyList<string> header, IReadOnlyList<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(rows);
        rows = [.. rows.Select(r => (IReadOnlyList<string>)[.. r.Select(PeerText.Escape)])];
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        AppendRow(text, header, widths);
        text.AppendJoin("+", widths.Select(w => new string('-', w + 2))).Append('\n');
        foreach (var row in rows)
        {
            AppendRow(text, row, widths);
        }

        text.Append('(').Append(rows.Count).Append(rows.Count == 1 ? " row)\n" : " rows)\n");
        return text.ToString();
    }

    private static void AppendRow(StringBuilder text, IReadOnlyList<string> cells, int[] widths)
    {
        for (var i = 0; i < cells.Count; i++)
        {
            // Like psql, the last column is not padded: no trailing blanks.
            text.Append(i == 0 ? " " : " | ").Append(i == cells.Count - 1 ? cells[i] : cells[i].PadRight(widths[i]));
        }

        text.Append('\n');
    }
}
