#!/usr/bin/env bash
# psql-session.sh: psql's scripted session through a conmgr port (contract in README.md).
# psql 15 has no way to send an extended-protocol statement, so its `prepared` step is SQL PREPARE/EXECUTE.
set -euo pipefail
host=$1 port=$2 role=$3 client=$4
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "${PGUSER:-postgres}" -d postgres "$@"; }
step() { echo "step $1 $2"; }
sqlstate() { # sqlstate SQL [STDIN]: the SQLSTATE psql reports for a statement that must fail
  local out
  if out=$(printf '%s' "${2:-}" | psql -v VERBOSITY=verbose -c "$1" 2>&1); then echo "expected an error: $1" >&2; exit 1; fi
  sed -nE 's/^(psql:[^:]*:[0-9]+: )?ERROR: +([0-9A-Z]{5}):.*/\2/p' <<<"$out" | head -1
}

step query "recovery=$(psql -c 'select pg_is_in_recovery()::text')"

if [ "$role" = read-write ]; then
  psql <<SQL
begin;
insert into client_matrix values ('$client', 1), ('$client', 2), ('$client', 3);
rollback;
begin;
insert into client_matrix values ('$client', 1), ('$client', 2);
commit;
SQL
  step transaction "committed=$(psql -c "select count(*) from client_matrix where client = '$client'")"
else
  step transaction "write=$(sqlstate "begin; select count(*) from client_matrix; insert into client_matrix values ('$client', 1); commit")"
fi

step prepared "$(psql -c 'prepare doubled(int) as select $1 * 2' -c 'execute doubled(1)' -c 'execute doubled(2)' -c 'execute doubled(3)' | paste -sd,)"

step copy_out "$(psql -c 'copy (select g from generate_series(1, 1000) g) to stdout' | awk '{n++; s += $1} END {print "rows=" n " sum=" s}')"

rows=$(for i in $(seq 1001 2000); do printf '%s\t%s\n' "$client" "$i"; done)
if [ "$role" = read-write ]; then
  printf '%s\n' "$rows" | psql -c '\copy client_matrix from stdin'
  step copy_in "rows=$(psql -c "select count(*) from client_matrix where client = '$client' and id > 1000")"
else
  step copy_in "refused=$(sqlstate 'copy client_matrix from stdin' "$rows")"
fi

# psql's own cancel: SIGINT makes it send a CancelRequest to the address it connected to.
# Job control on, or bash starts the background psql with SIGINT ignored.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set -m
psql -v VERBOSITY=verbose -c "select 'cancel-$client', pg_sleep(30)" >"$log" 2>&1 &
sleeper=$!
set +m
for _ in $(seq 1500); do
  [ "$(psql -c "select count(*) from pg_stat_activity where state = 'active' and query like 'select ''cancel-$client''%'")" = 1 ] && break
  sleep 0.02
done
kill -INT -- "-$sleeper" # the job's process group: the subshell running the psql function and psql itself
wait "$sleeper" || true
state=$(sed -nE 's/^ERROR: +([0-9A-Z]{5}):.*/\1/p' "$log" | head -1)
step cancel "$([ "$(psql -c 'select 1')" = 1 ] && echo "$state" || echo session-lost)"

# -F '|' and -At print each row as id|text\n, the bytes the other clients hash.
psql -F '|' -c 'select g, repeat(md5(g::text), 30) from generate_series(1, 105000) g' >"$log"
step big "$(wc -c <"$log") $(sha256sum "$log" | cut -d' ' -f1)"

if [ "$role" = read-write ]; then
  # LISTEN, then a second psql NOTIFYs from inside the first (\!), and psql shows the notification after its next command.
  out=$(psql -c "listen cm_$client" -c "\\! psql -X -q -h $host -p $port -U ${PGUSER:-postgres} -d postgres -c \"notify cm_$client, 'hello'\"" -c 'select 1' 2>&1)
  step notify "$(sed -nE 's/.*with payload "([^"]*)".*/\1/p' <<<"$out")"
fi
