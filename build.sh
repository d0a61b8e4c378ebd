#!/usr/bin/env bash
# build.sh: installs what a fresh machine lacks, builds the solution, publishes the executables to out/bin/,
# and builds and installs the watchdog PostgreSQL extension.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
configuration="${CONFIGURATION:-Release}"
dotnet build ConMgr.slnx -c "$configuration" -nologo -clp:NoSummary -v quiet
for project in src/ConMgr.Daemon src/ConMgr.Ctl src/ConMgr.Watchdog tools/ConMgr.DevCluster tools/ConMgr.ClientProbe examples/ConMgr.Example examples/ConMgr.Example.EfCore examples/ConMgr.Example.Dapper; do
  [ -d "$project" ] || continue
  dotnet publish "$project" -c "$configuration" --no-build -nologo -v quiet -o out/bin
done
# The watchdog extension (launcher library, pgx_stat_watchdog) goes into PostgreSQL's directories.
scripts/install-extension.sh
# The executables run as an unprivileged user (they refuse root): keep them readable by all.
chmod -R a+rX out
echo "build.sh: executables in $(pwd)/out/bin"
