#!/usr/bin/env bash
# demo.sh: builds ConMgr, starts a local PostgreSQL primary + standby and a conmgr watching both,
# shows cm_ctl status, then stops everything and removes what it made.
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

echo "== Starting a PostgreSQL 15 primary and a streaming standby in $demo/cluster"
"$bin/cm_devcluster" up "$demo/cluster" --standbys 1
# shellcheck disable=SC1091
source "$demo/cluster/cluster.env"

echo
echo "== Writing $demo/cm/conmgr.conf"
mkdir -p "$demo/cm"
port=$((20000 + RANDOM % 10000))
cat > "$demo/cm/conmgr.conf" <<CONF
# conmgr.conf written by demo.sh
port = $port
backend_hostaddr0 = '$PRIMARY_HOST'
backend_port0 = $PRIMARY_PORT
backend_hostaddr1 = '$STANDBY1_HOST'
backend_port1 = $STANDBY1_PORT
heartbeat_interval = 1s
heartbeat_timeout = 3s
log_min_messages = log
CONF
[ "$(id -u)" -eq 0 ] && chown -R "$user" "$demo/cm"
cat "$demo/cm/conmgr.conf"

echo
echo "== cm_ctl start"
as_user "$bin/cm_ctl" start -D "$demo/cm" -l "$demo/cm/conmgr.log"
echo
echo "== cm_ctl status"
as_user "$bin/cm_ctl" status -D "$demo/cm"
echo
echo "== The instances themselves"
for pair in "primary:$PRIMARY_PORT" "standby1:$STANDBY1_PORT"; do
  printf '%s: pg_is_in_recovery = ' "${pair%%:*}"
  psql -X -A -t -h 127.0.0.1 -p "${pair##*:}" -U postgres -c 'select pg_is_in_recovery()' postgres
done
echo
echo "== cm_ctl stop"
as_user "$bin/cm_ctl" stop -D "$demo/cm"
echo
echo "== conmgr log"
cat "$demo/cm/conmgr.log"
