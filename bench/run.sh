#!/usr/bin/env bash
# bench/run.sh: builds everything and runs the benchmarks recorded in docs/benchmarks.md (needs root: namespaces).
# Usage: bench/run.sh detection|scale|connect|pool|web-mix|failover|fuzz|memory|proxy|preauth|idle-proxy|http-load|heartbeat-flood [options]   (see: out/bench/cm_bench)
# For memory, a JIT build of conmgr (the build before Native AOT) is published to out/bench-jit and measured beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
./build.sh >/dev/null
if { [ "${1:-}" = proxy ] || [ "${1:-}" = idle-proxy ] || [ "${1:-}" = preauth ]; } && { [ ! -x /usr/sbin/pgbouncer ] || [ ! -x /usr/sbin/haproxy ]; }; then
  # The proxy benchmarks' peers, from Debian (root).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer haproxy >/dev/null
  systemctl disable --now pgbouncer haproxy >/dev/null 2>&1 || true
fi
dotnet publish bench/ConMgr.Bench -c Release -nologo -v quiet -o out/bench >/dev/null
gcc -O2 -Wall -o out/bench/heartbeat_floor bench/floor/heartbeat_floor.c   # scale's C floor
if [ "${1:-}" = memory ]; then
  dotnet publish src/ConMgr.Daemon -c Release -nologo -v quiet -p:PublishAot=false -o out/bench-jit >/dev/null
  chmod -R a+rX out/bench-jit
  exec out/bench/cm_bench "$@" --jit-bin "$(pwd)/out/bench-jit"
fi
exec out/bench/cm_bench "$@"
