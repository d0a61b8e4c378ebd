#!/usr/bin/env bash
# relay-cpu.sh: CPU time and context switches per transaction of conmgr's relay and of PgBouncer (session pooling) at pgbench -S -c 1,
# measured with perf stat on each daemon while pgbench runs through it; direct PostgreSQL beside them. Needs root, perf, pgbouncer.
# Usage: bench/scripts/relay-cpu.sh [ROUNDS=3] [SECONDS=10]
set -u
cd "$(dirname "$0")/../.."
rounds=${1:-3}; seconds=${2:-10}
./build.sh >/dev/null
d=/tmp/conmgr-relay-cpu; rm -rf $d; mkdir -p $d; chmod 755 $d
out/bin/cm_devcluster up $d/cluster --standbys 0 >/dev/null
source $d/cluster/cluster.env
mkdir -p $d/cm $d/pgb
cat > $d/cm/conmgr.conf <<CONF
port = 25400
listen_addresses = '127.0.0.1'
read_write_port = 25401
backend_hostaddr0 = '$PRIMARY_HOST'
backend_port0 = $PRIMARY_PORT
watchdog_port0 = $PRIMARY_WATCHDOG_PORT
heartbeat_interval = 1s
heartbeat_timeout = 3s
CONF
cat > $d/pgb/pgbouncer.ini <<INI
[databases]
* = host=127.0.0.1 port=$PRIMARY_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 25402
auth_type = trust
auth_file = $d/pgb/users.txt
unix_socket_dir =
logfile = $d/pgb/pgbouncer.log
pool_mode = session
pidfile = $d/pgb/pgbouncer.pid
INI
echo '"postgres" ""' > $d/pgb/users.txt
chown -R postgres $d
runuser -u postgres -- out/bin/cm_ctl start -D $d/cm -l $d/cm/conmgr.log --complete >/dev/null
runuser -u postgres -- /usr/sbin/pgbouncer -d $d/pgb/pgbouncer.ini
sleep 1
runuser -u postgres -- pgbench -i -q -s 10 -h 127.0.0.1 -p $PRIMARY_PORT -U postgres postgres >/dev/null 2>&1
cmpid=$(pgrep -f "conmgr -D $d/cm" | head -1); pgbpid=$(pgrep -f "pgbouncer -d $d" | head -1)
for round in $(seq "$rounds"); do
for p in "$PRIMARY_PORT direct 0" "25401 conmgr $cmpid" "25402 pgbouncer $pgbpid"; do
  set -- $p
  if [ "$3" != 0 ]; then perf stat -e task-clock,context-switches -p $3 -o $d/perf.$2 -- sleep "$seconds" & fi
  r=$(runuser -u postgres -- pgbench -S -c 1 -T "$seconds" -n -h 127.0.0.1 -p $1 -U postgres postgres 2>&1 | grep -E "latency average|^number of transactions actually" )
  wait
  tx=$(echo "$r" | sed -nE 's/.*processed: ([0-9]+).*/\1/p'); lat=$(echo "$r" | sed -nE 's/latency average = ([0-9.]+).*/\1/p')
  if [ "$3" != 0 ]; then ms=$(sed -nE 's/^ *([0-9.,]+) msec task-clock.*/\1/p' $d/perf.$2 | tr -d ,); cs=$(sed -nE 's/^ *([0-9,]+) +context-switches.*/\1/p' $d/perf.$2 | tr -d ,); else ms=0; cs=0; fi
  echo "$round $2 lat=$lat tx=$tx cpu_us_per_tx=$(echo "scale=2; $ms*1000/$tx" | bc) cs_per_tx=$(echo "scale=2; $cs/$tx" | bc)"
done
done
runuser -u postgres -- out/bin/cm_ctl stop -D $d/cm -m fast >/dev/null
kill $pgbpid
out/bin/cm_devcluster down $d/cluster
rm -rf "$d"
