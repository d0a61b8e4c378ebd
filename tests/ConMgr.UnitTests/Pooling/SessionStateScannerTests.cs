// SessionStateScannerTests.cs: the pin lexer finds session state through comments, strings, dollar quotes and PL/pgSQL, and leaves ordinary statements alone.
using System.Text;
using ConMgr.Daemon.Pooling;

namespace ConMgr.UnitTests.Pooling;

public sealed class SessionStateScannerTests
{
    private static SessionStateUse Scan(string sql, bool backslashQuotes = false) => SessionStateScanner.Scan(Encoding.UTF8.GetBytes(sql), backslashQuotes);

    [Theory]
    [InlineData("listen orders", SessionStateUse.Listen)]
    [InlineData("  LISTEN \"Orders\"", SessionStateUse.Listen)]
    [InlineData("select 1; listen x", SessionStateUse.Listen)]
    [InlineData("/* c */ -- c\nlisten x", SessionStateUse.Listen)]
    [InlineData("select pg_advisory_lock(1)", SessionStateUse.AdvisoryLock)]
    [InlineData("SELECT PG_TRY_ADVISORY_LOCK_SHARED(1, 2)", SessionStateUse.AdvisoryLock)]
    [InlineData("select pg_catalog.pg_advisory_lock(1)", SessionStateUse.AdvisoryLock)]
    [InlineData("create temp table t (a int)", SessionStateUse.TempObject)]
    [InlineData("CREATE GLOBAL TEMPORARY TABLE t (a int)", SessionStateUse.TempObject)]
    [InlineData("create or replace temp view v as select 1", SessionStateUse.TempObject)]
    [InlineData("select 1 into temp t", SessionStateUse.TempObject)]
    [InlineData("create table pg_temp.t (a int)", SessionStateUse.TempObject)]
    [InlineData("declare c cursor with hold for select 1", SessionStateUse.HoldCursor)]
    [InlineData("prepare p as select 1", SessionStateUse.SqlPrepare)]
    [InlineData("execute p", SessionStateUse.SqlPrepare)]
    [InlineData("deallocate all", SessionStateUse.SqlPrepare)]
    [InlineData("set search_path = a", SessionStateUse.SessionSetting)]
    [InlineData("SET SESSION statement_timeout = 5", SessionStateUse.SessionSetting)]
    [InlineData("set time zone 'UTC'", SessionStateUse.ReportedSetting)]
    [InlineData("SET TimeZone = 'UTC'", SessionStateUse.ReportedSetting)]
    [InlineData("set session application_name to 'x'", SessionStateUse.ReportedSetting)]
    [InlineData("set names 'UTF8'", SessionStateUse.ReportedSetting)]
    [InlineData("begin; set DateStyle = ISO; commit", SessionStateUse.ReportedSetting)]
    [InlineData("set \"my.var\" = 1", SessionStateUse.SessionSetting)]
    [InlineData("reset all", SessionStateUse.SessionSetting)]
    [InlineData("select set_config('a.b', 'c', false)", SessionStateUse.SessionSetting)]
    [InlineData("set role other", SessionStateUse.Role)]
    [InlineData("set session authorization other", SessionStateUse.Role)]
    [InlineData("load 'auto_explain'", SessionStateUse.Other)]
    [InlineData("discard all", SessionStateUse.Other)]
    [InlineData("select dblink_connect('c', 'dbname=x')", SessionStateUse.Other)]
    [InlineData("do $$ begin perform pg_advisory_lock(1); end $$", SessionStateUse.AdvisoryLock)]
    [InlineData("do $body$ begin create temp table t(); end $body$", SessionStateUse.TempObject)]
    [InlineData("do $$ begin set search_path = x; end $$", SessionStateUse.SessionSetting)]
    [InlineData("do $$ begin if true then listen x; end if; end $$", SessionStateUse.Listen)]
    [InlineData("do $$ begin execute 'listen x'; end $$", SessionStateUse.SqlPrepare)]
    [InlineData("set search_path", SessionStateUse.SessionSetting)]
    public void Finds_session_state(string sql, SessionStateUse expected) => Assert.Equal(expected, Scan(sql) & expected);

    [Theory]
    [InlineData("set timezone = 'UTC'")]
    [InlineData("set application_name = 'x'")]
    [InlineData("set time zone local")]
    public void A_set_of_a_reported_parameter_is_no_session_setting(string sql) => Assert.Equal(SessionStateUse.ReportedSetting, Scan(sql));

    [Theory]
    [InlineData("select 1")]
    [InlineData("update t set a = 1")]
    [InlineData("insert into t values (1) on conflict (a) do update set a = 2")]
    [InlineData("set local search_path = a")]
    [InlineData("set transaction isolation level serializable")]
    [InlineData("SET CONSTRAINTS ALL DEFERRED")]
    [InlineData("select pg_advisory_xact_lock(1)")]
    [InlineData("select 'listen x; set a = 1; pg_advisory_lock(1)'")]
    [InlineData("select \"listen\" from t -- listen x\n")]
    [InlineData("select $1::text /* set a = 1 */")]
    [InlineData("create temp table t (a int) on commit drop")]
    [InlineData("declare c cursor for select 1")]
    [InlineData("select temp from weather")]
    [InlineData("alter table t alter column a set default 1")]
    [InlineData("begin; select 1; commit")]
    [InlineData("unlisten *")]
    [InlineData("select E'it''s \\' listen x'")]
    [InlineData("set local timezone = 'UTC'")]
    public void Leaves_ordinary_statements_alone(string sql) => Assert.Equal(SessionStateUse.None, Scan(sql));

    [Fact]
    public void A_backslash_quote_is_read_as_the_server_reads_it()
    {
        // standard_conforming_strings = on: the backslash is a character, the string ends, LISTEN follows.
        Assert.Equal(SessionStateUse.Listen, Scan("select 'a\\'; listen x; --'"));

        // off: the backslash escapes the quote, and all of it is one string.
        Assert.Equal(SessionStateUse.None, Scan("select 'a\\'; listen x; --'", backslashQuotes: true));
    }

    [Fact]
    public void Random_text_never_throws_and_unterminated_quotes_end_at_the_text()
    {
        var random = new Random(2312);
        var alphabet = Encoding.ASCII.GetBytes("abcdefglnorstu_ $'\";-/*\\\n()");
        for (var i = 0; i < 20_000; i++)
        {
            var text = new byte[random.Next(0, 64)];
            for (var j = 0; j < text.Length; j++)
            {
                text[j] = random.Next(8) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
            }

            _ = SessionStateScanner.Scan(text);
        }

        Assert.Equal(SessionStateUse.None, Scan("select '"));
        Assert.Equal(SessionStateUse.None, Scan("select $$ never closed"));
        Assert.Equal(SessionStateUse.Listen, Scan("select 1 /* /* nested */ still comment */; listen x"));
    }
}
