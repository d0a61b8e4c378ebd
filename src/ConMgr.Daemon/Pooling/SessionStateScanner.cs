// SessionStateScanner.cs: finds, in the SQL text a client sends, the statements that leave state in the server session that transaction pooling cannot move.
namespace ConMgr.Daemon.Pooling;

/// <summary>Session state that stays with a server connection after its transaction ends; any of it pins the client to that server.</summary>
[Flags]
public enum SessionStateUse
{
    None = 0,

    /// <summary>LISTEN: notifications come to this server session only.</summary>
    Listen = 1 << 0,

    /// <summary>A session-level advisory lock (pg_advisory_lock and its try/shared forms).</summary>
    AdvisoryLock = 1 << 1,

    /// <summary>A temporary table, view or sequence (CREATE TEMP, SELECT INTO TEMP, pg_temp).</summary>
    TempObject = 1 << 2,

    /// <summary>A cursor declared WITH HOLD.</summary>
    HoldCursor = 1 << 3,

    /// <summary>SQL PREPARE, EXECUTE or DEALLOCATE: statements named in SQL live in this server session.</summary>
    SqlPrepare = 1 << 4,

    /// <summary>A session-level SET or RESET, or set_config().</summary>
    SessionSetting = 1 << 5,

    /// <summary>SET ROLE or SET SESSION AUTHORIZATION: the session's identity.</summary>
    Role = 1 << 6,

    /// <summary>LOAD of a shared library, DISCARD, or a dblink connection: state this scanner does not follow.</summary>
    Other = 1 << 7,

    /// <summary>A named prepared statement of the extended protocol (while conmgr does not rename them).</summary>
    NamedStatement = 1 << 8,

    /// <summary>The text was too long to read whole: taken as if it held everything.</summary>
    Unread = 1 << 9,

    /// <summary>A SET of a parameter the server reports (TimeZone, application_name, DateStyle …): followed exactly from ParameterStatus and carried to the next server, so it pins nothing.</summary>
    ReportedSetting = 1 << 10,
}

/// <summary>
/// A small SQL lexer that may only err towards pinning. It skips comments (<c>--</c>, nested
/// <c>/* */</c>), string literals (standard, E'' with backslash escapes, U&amp;'') and quoted
/// identifiers, and reads the body of a dollar-quoted string as code (a DO block or a function
/// body is where a temp table or an advisory lock hides). Keywords are ASCII, compared without
/// case on the bytes, so the text needs no decoding. What it sees:
/// <list type="bullet">
/// <item>at a statement's start (the text's start, after <c>;</c>, or after PL/pgSQL's BEGIN, THEN, ELSE, LOOP):
/// LISTEN, SET (not SET LOCAL, SET TRANSACTION or SET CONSTRAINTS), RESET, PREPARE, EXECUTE, DEALLOCATE, LOAD, DISCARD, DECLARE … HOLD;</item>
/// <item>anywhere: CREATE [GLOBAL|LOCAL] TEMP/TEMPORARY (unless the statement says ON COMMIT DROP), INTO TEMP, pg_temp,
/// and the functions pg_advisory_lock, pg_advisory_lock_shared, pg_try_advisory_lock, pg_try_advisory_lock_shared, set_config, dblink_connect.</item>
/// </list>
/// State made by dynamic SQL (EXECUTE of a string inside PL/pgSQL) or inside functions defined
/// earlier is not visible on the wire; docs/pooling.md says so.
/// </summary>
public static class SessionStateScanner
{
    /// <summary>Depth of dollar-quoted bodies read as code; deeper ones are taken as holding everything.</summary>
    private const int MaxDepth = 8;

    /// <param name="sql">The text as the client sent it (in its client_encoding: keywords are ASCII in every encoding PostgreSQL takes).</param>
    /// <param name="backslashQuotes">standard_conforming_strings = off: a backslash escapes in every string, as the server reads it then.</param>
    public static SessionStateUse Scan(ReadOnlySpan<byte> sql, bool backslashQuotes = false) => Scan(sql, backslashQuotes, 0);

    private static SessionStateUse Scan(ReadOnlySpan<byte> sql, bool backslashQuotes, int depth)
    {
        if (depth > MaxDepth)
        {
            return SessionStateUse.Unread;
        }

        var found = SessionStateUse.None;
        var statement = new StatementWords();
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c == '-' && i + 1 < sql.Length && sql[i + 1] == '-')
            {
                i = SkipLineComment(sql, i);
            }
            else if (c == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
            {
                i = SkipBlockComment(sql, i);
            }
            else if (c == '\'')
            {
                i = SkipString(sql, i, backslashEscapes: backslashQuotes || IsEscapePrefix(sql, i));
                statement.Other();
            }
            else if (c == '"')
            {
                i = SkipQuoted(sql, i, (byte)'"');
                statement.Other();
            }
            else if (c == '$' && DollarTag(sql, i) is var tag and > 0)
            {
                var bodyStart = i + tag;
                var close = IndexOf(sql[bodyStart..], sql.Slice(i, tag));
                var body = close < 0 ? sql[bodyStart..] : sql.Slice(bodyStart, close);
                found |= Scan(body, backslashQuotes, depth + 1);
                i = close < 0 ? sql.Length : bodyStart + close + tag;
                statement.Other();
            }
            else if (c == ';')
            {
                found |= statement.End();
                i++;
            }
            else if (IsIdentifierStart(c))
            {
                var start = i;
                while (i < sql.Length && IsIdentifierPart(sql[i]))
                {
                    i++;
                }

                found |= statement.Word(sql[start..i]);
            }
            else
            {
                if (!IsSpace(c))
                {
                    statement.Other();
                }

                i++;
            }
        }

        return found | statement.End();
    }

    /// <summary>The words of the statement being read, as far as pinning needs them.</summary>
    private struct StatementWords
    {
        private int _position;
        private bool _afterCreate;
        private bool _temp;
        private bool _onCommitDrop;
        private int _commitDropStep;
        private bool _declare;
        private bool _afterSet;
        private bool _afterSetSession;
        private bool _afterInto;
        private bool _statementStart;
        private SessionStateUse _found;

        public SessionStateUse Word(ReadOnlySpan<byte> word)
        {
            var first = _position == 0 || _statementStart;
            _statementStart = false;
            _position++;

            if (_afterSet)
            {
                _afterSet = false;
                if (Is(word, "local"u8) || Is(word, "transaction"u8) || Is(word, "constraints"u8))
                {
                    return SessionStateUse.None;
                }

                if (Is(word, "role"u8))
                {
                    _found |= SessionStateUse.Role;
                    return SessionStateUse.None;
                }

                if (Is(word, "session"u8))
                {
                    _afterSetSession = true;
                    return SessionStateUse.None;
                }

                _found |= IsReported(word) ? SessionStateUse.ReportedSetting : SessionStateUse.SessionSetting;
                return SessionStateUse.None;
            }

            if (_afterSetSession)
            {
                _afterSetSession = false;
                _found |= Is(word, "authorization"u8) ? SessionStateUse.Role : IsReported(word) ? SessionStateUse.ReportedSetting : SessionStateUse.SessionSetting;
                return SessionStateUse.None;
            }

            if (first)
            {
                if (Is(word, "set"u8))
                {
                    _afterSet = true;
                }
                else if (Is(word, "listen"u8))
                {
                    _found |= SessionStateUse.Listen;
                }
                else if (Is(word, "reset"u8))
                {
                    _found |= SessionStateUse.SessionSetting;
                }
                else if (Is(word, "prepare"u8) || Is(word, "execute"u8) || Is(word, "deallocate"u8))
                {
                    _found |= SessionStateUse.SqlPrepare;
                }
                else if (Is(word, "load"u8) || Is(word, "discard"u8))
                {
                    _found |= SessionStateUse.Other;
                }
                else if (Is(word, "declare"u8))
                {
                    _declare = true;
                }
                else if (Is(word, "create"u8))
                {
                    _afterCreate = true;
                }

                if (Is(word, "begin"u8) || Is(word, "then"u8) || Is(word, "else"u8) || Is(word, "loop"u8))
                {
                    // PL/pgSQL: the next word starts a statement of the block.
                    _statementStart = true;
                }

                return SessionStateUse.None;
            }

            if (Is(word, "begin"u8) || Is(word, "then"u8) || Is(word, "else"u8) || Is(word, "loop"u8))
            {
                _statementStart = true;
            }

            if (_afterCreate)
            {
                if (Is(word, "temp"u8) || Is(word, "temporary"u8))
                {
                    _temp = true;
                    _afterCreate = false;
                }
                else if (!(Is(word, "global"u8) || Is(word, "local"u8) || Is(word, "or"u8) || Is(word, "replace"u8) || Is(word, "unlogged"u8)))
                {
                    _afterCreate = false;
                }
            }

            if (_afterInto)
            {
                _afterInto = false;
                if (Is(word, "temp"u8) || Is(word, "temporary"u8))
                {
                    _temp = true;
                }
            }

            if (Is(word, "into"u8))
            {
                _afterInto = true;
            }

            // ON COMMIT DROP, in that order, makes a temporary table end with its transaction.
            _commitDropStep = Is(word, "on"u8) ? 1 : _commitDropStep == 1 && Is(word, "commit"u8) ? 2 : _commitDropStep == 2 && Is(word, "drop"u8) ? 3 : 0;
            if (_commitDropStep == 3)
            {
                _onCommitDrop = true;
            }

            if (_declare && Is(word, "hold"u8))
            {
                _found |= SessionStateUse.HoldCursor;
            }

            if (Is(word, "pg_temp"u8))
            {
                _found |= SessionStateUse.TempObject;
            }
            else if (Is(word, "pg_advisory_lock"u8) || Is(word, "pg_advisory_lock_shared"u8) || Is(word, "pg_try_advisory_lock"u8) || Is(word, "pg_try_advisory_lock_shared"u8))
            {
                _found |= SessionStateUse.AdvisoryLock;
            }
            else if (Is(word, "set_config"u8))
            {
                _found |= SessionStateUse.SessionSetting;
            }
            else if (Is(word, "dblink_connect"u8) || Is(word, "dblink_connect_u"u8))
            {
                _found |= SessionStateUse.Other;
            }

            return SessionStateUse.None;
        }

        /// <summary>Anything that is not a word (a literal, an operator) ends the words that must follow one another.</summary>
        public void Other()
        {
            _statementStart = false;
            _position++;
            _afterCreate = false;
            _afterInto = false;
            _commitDropStep = 0;
            if (_afterSet)
            {
                // SET followed by a quoted name, or at a statement's start: a session setting.
                _afterSet = false;
                _found |= SessionStateUse.SessionSetting;
            }

            if (_afterSetSession)
            {
                _afterSetSession = false;
                _found |= SessionStateUse.SessionSetting;
            }
        }

        public SessionStateUse End()
        {
            if (_afterSet || _afterSetSession)
            {
                _found |= SessionStateUse.SessionSetting;
            }

            if (_temp && !_onCommitDrop)
            {
                _found |= SessionStateUse.TempObject;
            }

            var found = _found;
            this = default;
            return found;
        }
    }

    /// <summary>
    /// Settings the server reports on every change (GUC_REPORT) and a client may SET: their value in
    /// force is what the last ParameterStatus said, so they move with the client. <c>SET TIME ZONE</c>
    /// is TimeZone and <c>SET NAMES</c> client_encoding.
    /// </summary>
    private static bool IsReported(ReadOnlySpan<byte> word) =>
        Is(word, "application_name"u8) || Is(word, "timezone"u8) || Is(word, "time"u8) || Is(word, "datestyle"u8) || Is(word, "intervalstyle"u8)
        || Is(word, "client_encoding"u8) || Is(word, "names"u8) || Is(word, "default_transaction_read_only"u8);

    private static bool Is(ReadOnlySpan<byte> word, ReadOnlySpan<byte> keyword)
    {
        if (word.Length != keyword.Length)
        {
            return false;
        }

        for (var i = 0; i < word.Length; i++)
        {
            var c = word[i] is >= (byte)'A' and <= (byte)'Z' ? (byte)(word[i] | 0x20) : word[i];
            if (c != keyword[i])
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsIdentifierStart(byte c) => c is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or (byte)'_' or >= 0x80;

    private static bool IsIdentifierPart(byte c) => IsIdentifierStart(c) || c is >= (byte)'0' and <= (byte)'9' or (byte)'$';

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\f' or (byte)'\v';

    private static int SkipLineComment(ReadOnlySpan<byte> sql, int i)
    {
        var end = sql[i..].IndexOfAny((byte)'\n', (byte)'\r');
        return end < 0 ? sql.Length : i + end + 1;
    }

    /// <summary>Block comments nest in PostgreSQL.</summary>
    private static int SkipBlockComment(ReadOnlySpan<byte> sql, int i)
    {
        var depth = 0;
        while (i < sql.Length)
        {
            if (sql[i] == '/' && i + 1 < sql.Length && sql[i + 1] == '*')
            {
                depth++;
                i += 2;
            }
            else if (sql[i] == '*' && i + 1 < sql.Length && sql[i + 1] == '/')
            {
                depth--;
                i += 2;
                if (depth == 0)
                {
                    return i;
                }
            }
            else
            {
                i++;
            }
        }

        return sql.Length;
    }

    /// <summary>E'…' (or e'…') takes backslash escapes; the E must not end a longer word.</summary>
    private static bool IsEscapePrefix(ReadOnlySpan<byte> sql, int quote) =>
        quote > 0 && (sql[quote - 1] | 0x20) == 'e' && (quote == 1 || !IsIdentifierPart(sql[quote - 2]));

    private static int SkipString(ReadOnlySpan<byte> sql, int i, bool backslashEscapes)
    {
        i++;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (backslashEscapes && c == '\\')
            {
                i += 2;
            }
            else if (c == '\'')
            {
                if (i + 1 < sql.Length && sql[i + 1] == '\'')
                {
                    i += 2;
                }
                else
                {
                    return i + 1;
                }
            }
            else
            {
                i++;
            }
        }

        return sql.Length;
    }

    private static int SkipQuoted(ReadOnlySpan<byte> sql, int i, byte quote)
    {
        i++;
        while (i < sql.Length)
        {
            if (sql[i] == quote)
            {
                if (i + 1 < sql.Length && sql[i + 1] == quote)
                {
                    i += 2;
                    continue;
                }

                return i + 1;
            }

            i++;
        }

        return sql.Length;
    }

    /// <summary>The length of a dollar-quote tag (<c>$$</c> or <c>$name$</c>) at <paramref name="i"/>, or 0; a $1 parameter is no tag, nor is a $ inside a word.</summary>
    private static int DollarTag(ReadOnlySpan<byte> sql, int i)
    {
        if (i > 0 && IsIdentifierPart(sql[i - 1]))
        {
            return 0;
        }

        var j = i + 1;
        if (j < sql.Length && sql[j] == '$')
        {
            return 2;
        }

        if (j >= sql.Length || !IsIdentifierStart(sql[j]))
        {
            return 0;
        }

        while (j < sql.Length && IsIdentifierPart(sql[j]) && sql[j] != '$')
        {
            j++;
        }

        return j < sql.Length && sql[j] == '$' ? j - i + 1 : 0;
    }

    private static int IndexOf(ReadOnlySpan<byte> text, ReadOnlySpan<byte> tag) => text.IndexOf(tag);
}
