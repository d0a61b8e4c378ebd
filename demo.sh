#!/usr/bin/env bash
# demo.sh: builds ConMgr, starts a local PostgreSQL primary + standby (each with its watchdog) and a
# conmgr watching both, shows cm_ctl status, two-phase connections, psql through the proxy ports (a
# write refused on the read-only one, a query failing fast when the primary's host freezes), promotes
# the standby and shows what conmgr saw, then stops everything and removes what it made.
set -euo pipefail
cd "$(dirname "$0")"
./build.sh >/dev/null
bin="$(pwd)/out/bin"

demo=$(mktemp -d /tmp/conmgr-demo.XXXXXX)
chmod 755 "$demo"
user=postgres
as_user() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
cleanup() {
  as_user "$bin/cm_ctl" stop -D "$demo/cm" -m fast >/dev/null 2>&1 || true
  "$bin/cm_devcluster" down "$demo/cluster" || true
  rm -rf "$demo"
}
trap cleanup EXIT

echo "== Starting a PostgreSQL 15 primary and a streaming standby in $demo/cluster (shared_preload_libraries = 'watchdog')"
"$bin/cm_devcluster" up "$demo/cluster" --standbys 1
# shellcheck disable=SC1091
source "$demo/cluster/cluster.env"

echo
echo "== Writing $demo/cm/conmgr.conf"
mkdir -p -m 0700 "$demo/cm"
port=$((20000 + RANDOM % 10000))
rw=$((port + 1))
ro=$((port + 2))
cat > "$demo/cm/conmgr.conf" <<CONF
# conmgr.conf written by demo.sh
port = $port
listen_addresses = '127.0.0.1'
read_write_port = $rw
read_only_port = $ro
backend_hostaddr0 = '$PRIMARY_HOST'
backend_port0 = $PRIMARY_PORT
watchdog_port0 = $PRIMARY_WATCHDOG_PORT
backend_hostaddr1 = '$STANDBY1_HOST'
backend_port1 = $STANDBY1_PORT
watchdog_port1 = $STANDBY1_WATCHDOG_PORT
heartbeat_interval = 500ms
heartbeat_timeout = 2s
log_min_messages = log
CONF
[ "$(id -u)" -eq 0 ] && chown -R "$user" "$demo/cm"
cat "$demo/cm/conmgr.conf"
echo
echo "== The heartbeat is authenticated by default: the watchdog generated \$PGDATA/heartbeat.secret at its first"
echo "   start (the standby got it with its base backup); conmgr reads its copy from its own directory"
as_user install -m 0600 "$PRIMARY_DATA/heartbeat.secret" "$demo/cm/heartbeat.secret"
ls -l "$demo/cm/heartbeat.secret"

echo
echo "== cm_ctl start --complete (returns once every instance's heartbeat is up)"
as_user "$bin/cm_ctl" start -D "$demo/cm" -l "$demo/cm/conmgr.log" --complete
echo
echo "== cm_ctl status"
as_user "$bin/cm_ctl" status -D "$demo/cm"
echo
echo "== pgx_stat_watchdog on the primary"
psql -X -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -c 'create extension watchdog' -c 'select * from pgx_stat_watchdog' postgres
echo
probe() { # probe TARGET: a two-phase connection through conmgr with the .NET client library
  "$bin/cm_client_probe" "Host=127.0.0.1:$port;Username=postgres;Database=postgres;Target Session Attributes=$1;Timeout=5" \
    "select case when pg_is_in_recovery() then 'standby' else 'primary' end" | sed "s/^/  $1: /"
}
echo "== Two-phase connections through conmgr (ConMgr.Client): the instance is chosen by conmgr"
probe read-write
probe read-only
echo
echo "== The example application of docs/client.md (examples/ConMgr.Example): writes on the primary, reads on a standby"
"$bin/cm_example" "127.0.0.1:$port" | sed "s/^/  /"
echo
echo "== The same with EF Core and with Dapper (examples/ConMgr.Example.EfCore, .Dapper): pooled, retried units of work"
"$bin/cm_example_efcore" "127.0.0.1:$port" | sed "s/^/  efcore: /"
"$bin/cm_example_dapper" "127.0.0.1:$port" | sed "s/^/  dapper: /"
echo
echo "== Proxy ports: psql knows nothing of conmgr, and lands on the right instance"
for p in "$rw read-write" "$ro read-only"; do
  set -- $p
  psql -X -A -t -h 127.0.0.1 -p "$1" -U postgres -c "select '  $2 port $1 -> ' || case when pg_is_in_recovery() then 'standby' else 'primary' end || ' on port ' || inet_server_port()" postgres
done
echo
echo "== A write on the read-only port, after trying to switch read-only off: refused with 25006"
psql -X -h 127.0.0.1 -p "$ro" -U postgres -v VERBOSITY=verbose -c "set default_transaction_read_only = off" -c "show transaction_read_only" -c "create table demo_write(id int)" postgres 2>&1 | sed 's/^/  /' || true
echo
echo "== Freezing the primary's host (SIGSTOP of the postmaster and all its processes) under a running psql query on the read-write port"
descendants() { echo "$1"; for child in $(pgrep -P "$1"); do descendants "$child"; done; }
postmaster=$(head -1 "$PRIMARY_DATA/postmaster.pid")
psql -X -h 127.0.0.1 -p "$rw" -U postgres -c "select pg_sleep(60)" postgres > "$demo/psql-freeze.log" 2>&1 &
psql_pid=$!
for _ in $(seq 100); do
  [ "$(psql -X -A -t -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -c "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)'" postgres)" = 1 ] && break
  sleep 0.05
done
frozen_at=$(date +%s%N)
kill -STOP $(descendants "$postmaster")
wait "$psql_pid" || true
failed_at=$(date +%s%N)
kill -CONT $(descendants "$postmaster")
echo "  psql got its error $(( (failed_at - frozen_at) / 1000000 )) ms after the freeze (heartbeat_timeout = 2s):"
sed 's/^/    /' "$demo/psql-freeze.log"
for _ in $(seq 100); do
  as_user "$bin/cm_ctl" status -D "$demo/cm" -i instance | grep -qE '^ 0 .*\| up .*\| primary ' && break
  sleep 0.1
done
echo "  thawed; the primary's heartbeat is back:"
as_user "$bin/cm_ctl" status -D "$demo/cm" -i instance | sed 's/^/  /'
echo
echo "== Promoting the standby: its watchdog pushes the new role within watchdog.check_attr_interval"
psql -X -A -t -h 127.0.0.1 -p "$STANDBY1_PORT" -U postgres -c 'select pg_promote()' postgres >/dev/null
for _ in $(seq 50); do
  as_user "$bin/cm_ctl" status -D "$demo/cm" -i instance | grep -qE '^ 1 .*\| primary ' && break
  sleep 0.1
done
as_user "$bin/cm_ctl" status -D "$demo/cm" -i instance
echo
echo "== Two primaries now (the old one was not stopped): writes go only to the newest timeline"
probe read-write
echo
echo "== cm_ctl stop"
as_user "$bin/cm_ctl" stop -D "$demo/cm"
echo
echo "== conmgr log"
cat "$demo/cm/conmgr.log"
