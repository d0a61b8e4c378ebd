#!/usr/bin/env bash
# bench/run.sh: builds everything and runs the benchmarks recorded in docs/benchmarks.md (needs root: namespaces).
# Usage: bench/run.sh detection|scale [options]   (see: out/bench/cm_bench)
set -euo pipefail
cd "$(dirname "$0")/.."
./build.sh >/dev/null
dotnet publish bench/ConMgr.Bench -c Release -nologo -v quiet -o out/bench >/dev/null
exec out/bench/cm_bench "$@"
