#!/usr/bin/env bash
# build.sh: installs what a fresh machine lacks, builds the solution, publishes the executables to out/bin/.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
configuration="${CONFIGURATION:-Release}"
dotnet build ConMgr.slnx -c "$configuration" -nologo -clp:NoSummary -v quiet
for project in src/ConMgr.Daemon src/ConMgr.Ctl tools/ConMgr.DevCluster; do
  [ -d "$project" ] || continue
  dotnet publish "$project" -c "$configuration" --no-build -nologo -v quiet -o out/bin
done
# The executables run as an unprivileged user (they refuse root): keep them readable by all.
chmod -R a+rX out
echo "build.sh: executables in $(pwd)/out/bin"
