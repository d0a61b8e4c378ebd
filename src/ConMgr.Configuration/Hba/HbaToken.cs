// HbaToken.cs: one token of an authentication file (conmgr_hba.conf, an @-included list), with whether it was quoted.
namespace ConMgr.Configuration.Hba;

/// <summary>
/// A token as PostgreSQL's hba.c keeps it: its text with the quotes removed, and whether it began
/// with a quote. A quoted <c>"all"</c> is a database or role named all; only an unquoted one is
/// the keyword, and only an unquoted leading <c>@</c>, <c>+</c> or <c>/</c> has its meaning.
/// </summary>
public sealed record HbaToken(string Text, bool Quoted)
{
    public bool IsKeyword(string keyword) => !Quoted && string.Equals(Text, keyword, StringComparison.Ordinal);

    /// <summary>An unquoted <c>+name</c>: members of role name (a role is a member of itself).</summary>
    public bool IsGroup => !Quoted && Text.Length > 1 && Text[0] == '+';

    /// <summary>An unquoted <c>/pattern</c>: a regular expression on the name (PostgreSQL 16's rule).</summary>
    public bool IsRegex => !Quoted && Text.Length > 1 && Text[0] == '/';

    public override string ToString() => Quoted ? $"\"{Text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : Text;
}
