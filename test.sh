#!/usr/bin/env bash
# test.sh: builds everything and runs every test (unit and real-PostgreSQL integration);
# the last line printed is "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")"

if ! ./build.sh; then
  echo "test.sh: build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet test ConMgr.slnx -c "${CONFIGURATION:-Release}" --no-build -nologo 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Leftovers of an aborted run (postmasters, conmgr processes) must not outlive the suite.
out/bin/cm_devcluster reap || true

sum() { grep -E '^(Passed|Failed)!' "$log" | sed -nE "s/.*[^a-zA-Z]$1: *([0-9]+).*/\1/p" | awk '{s += $1} END {print s + 0}'; }
passed=$(sum Passed)
failed=$(sum Failed)
skipped=$(sum Skipped)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # A test host that crashed or a project that did not report: count it, never hide it.
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
