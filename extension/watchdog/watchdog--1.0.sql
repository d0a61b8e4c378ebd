-- watchdog--1.0.sql: pgx_stat_watchdog, one row per conmgr with a live heartbeat to this instance.
\echo Use "CREATE EXTENSION watchdog" to load this file. \quit

-- The watchdog process writes pg_stat_tmp/watchdog.status (tab-separated: address, port,
-- interval ms, timeout ms; replaced atomically). A file rather than a table, so the view reads
-- the same on a primary and on a read-only standby. SECURITY DEFINER because pg_read_file is
-- reserved to superusers; the function reads that one file and nothing else, so anyone may call it.
CREATE FUNCTION pgx_stat_watchdog_rows(
    OUT conmgr_addr inet,
    OUT conmgr_port integer,
    OUT heartbeat_interval integer,
    OUT heartbeat_timeout integer,
    OUT heartbeat_interval_ms integer,
    OUT heartbeat_timeout_ms integer)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog
AS $$
    SELECT split_part(line, E'\t', 1)::inet,
           split_part(line, E'\t', 2)::integer,
           ceil(split_part(line, E'\t', 3)::numeric / 1000)::integer,
           ceil(split_part(line, E'\t', 4)::numeric / 1000)::integer,
           split_part(line, E'\t', 3)::integer,
           split_part(line, E'\t', 4)::integer
    FROM regexp_split_to_table(coalesce(pg_read_file('pg_stat_tmp/watchdog.status', 0, 67108864, true), ''), E'\n') AS line
    WHERE line <> ''
$$;


-- heartbeat_interval and heartbeat_timeout are in seconds, as the seed defines them (rounded
-- up when conmgr uses sub-second values); the _ms columns carry the exact values.
CREATE VIEW pgx_stat_watchdog AS
    SELECT conmgr_addr, conmgr_port, heartbeat_interval, heartbeat_timeout, heartbeat_interval_ms, heartbeat_timeout_ms
    FROM pgx_stat_watchdog_rows();

GRANT SELECT ON pgx_stat_watchdog TO PUBLIC;
