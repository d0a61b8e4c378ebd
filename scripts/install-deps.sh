#!/usr/bin/env bash
# install-deps.sh: installs from Debian's packages what ConMgr's build, tests and demo need and a fresh machine lacks.
set -euo pipefail

missing=()
need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || missing+=("$2")
}

need /usr/lib/postgresql/15/bin/initdb postgresql-15
need /usr/lib/postgresql/15/bin/pg_basebackup postgresql-15
need runuser util-linux
need setsid util-linux
need ip iproute2
need iptables iptables
# Native AOT (conmgr, cm_ctl, cm_watchdog) links with gcc against zlib.
need gcc gcc
[ -e /usr/include/zlib.h ] || missing+=(zlib1g-dev)
# Real clients of the proxy tests: psycopg2 (in Debian's /usr/bin/python3) and pgjdbc (on the installed Java).
/usr/bin/python3 -c 'import psycopg2' >/dev/null 2>&1 || missing+=(python3-psycopg2)
[ -e /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
# The HTTP ports' tests: curl inside network namespaces, a real Prometheus text parser, HAProxy
# configured as Patroni's documentation shows, and a headless browser for the status page.
need curl curl
/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || missing+=(python3-prometheus-client)
need haproxy haproxy
need chromium chromium

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: missing packages ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "install-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node-postgres for the proxy tests' client matrix, from the npm registry at the versions package-lock.json pins.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/clients/node"
if [ ! -d "$node_dir/node_modules/pg" ] || [ ! -d "$node_dir/node_modules/pg-copy-streams" ]; then
  command -v npm >/dev/null 2>&1 || { echo "install-deps.sh: npm (Node.js) is required for the node-postgres tests" >&2; exit 1; }
  echo "install-deps.sh: npm ci in tests/clients/node"
  (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

command -v dotnet >/dev/null 2>&1 || { echo "install-deps.sh: the .NET SDK (dotnet) is required" >&2; exit 1; }
