#!/usr/bin/env bash
# install-extension.sh: builds the watchdog extension with PGXS and installs it into PostgreSQL 15
# (library into pkglibdir, control file and SQL script into the extension directory, cm_watchdog into
# the server's bindir). Needs root.
set -euo pipefail
cd "$(dirname "$0")/../extension/watchdog"
pg_config=/usr/lib/postgresql/15/bin/pg_config
if [ ! -f /usr/include/postgresql/15/server/postgres.h ] || ! command -v make >/dev/null || ! command -v gcc >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then echo "install-extension.sh: postgresql-server-dev-15, make or gcc missing; run as root" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql-server-dev-15 make gcc >/dev/null
fi
make -s PG_CONFIG="$pg_config" >/dev/null
if [ -w "$($pg_config --pkglibdir)" ]; then
  make -s PG_CONFIG="$pg_config" install >/dev/null
else
  echo "install-extension.sh: cannot write $($pg_config --pkglibdir); run as root to install the watchdog extension" >&2
  exit 1
fi
make -s PG_CONFIG="$pg_config" clean >/dev/null
# cm_watchdog beside the server's executables, where the launcher looks before PATH (as a package
# would ship it): the docs' minimal setup needs no watchdog.program. A link keeps it next to its
# .NET assemblies in out/bin (the apphost finds them through /proc/self/exe, which is resolved).
watchdog="$(cd ../.. && pwd)/out/bin/cm_watchdog"
if [ -x "$watchdog" ]; then
  ln -sfn "$watchdog" "$($pg_config --bindir)/cm_watchdog"
fi
