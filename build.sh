#!/usr/bin/env bash
# build.sh: installs what a fresh machine lacks, builds the solution, publishes the executables to out/bin/,
# and builds and installs the watchdog PostgreSQL extension.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
configuration="${CONFIGURATION:-Release}"
dotnet build ConMgr.slnx -c "$configuration" -nologo -clp:NoSummary -v quiet
# The three Native AOT executables compile side by side (about 80 s instead of 110 s on two
# cores), each into a directory of its own so that no two publishes write the same file.
rm -rf out/publish
pids=()
for project in src/ConMgr.Daemon src/ConMgr.Ctl src/ConMgr.Watchdog; do
  dotnet publish "$project" -c "$configuration" --no-build -nologo -v quiet -o "out/publish/$(basename "$project")" &
  pids+=("$!")
done
for pid in "${pids[@]}"; do
  wait "$pid"
done
mkdir -p out/bin
for directory in out/publish/*/; do
  cp -a "$directory". out/bin/
done
rm -rf out/publish
for project in tools/ConMgr.DevCluster tools/ConMgr.ClientProbe examples/ConMgr.Example examples/ConMgr.Example.EfCore examples/ConMgr.Example.Dapper; do
  [ -d "$project" ] || continue
  dotnet publish "$project" -c "$configuration" --no-build -nologo -v quiet -o out/bin
done
# The watchdog extension (launcher library, pgx_stat_watchdog) goes into PostgreSQL's directories.
scripts/install-extension.sh
# The executables run as an unprivileged user (they refuse root): keep them readable by all.
chmod -R a+rX out
echo "build.sh: executables in $(pwd)/out/bin"
