#!/usr/bin/env bash
# The load harness: runs one scenario of load/scenarios/ on lib/ (its own database, Redis key
# prefix, processes and results folder, all cleaned up). See load/README.md.
#
#   load/bench.sh [scenario]    bench (default; make bench), read, write, limits, chaos, compare
#   QUICK=1 load/bench.sh       every phase smaller (< 4 min); SMOKE=1: the smallest (make test)
#
# Every figure can be set from the environment: see the top of each scenario.
set -euo pipefail
cd "$(dirname "$0")"
scenario="${1:-bench}"
if [[ ! "$scenario" =~ ^[a-z-]+$ || ! -f "scenarios/$scenario.mjs" ]]; then
  echo "load/bench.sh: unknown scenario '$scenario'; one of: $(cd scenarios && ls *.mjs | sed 's/\.mjs$//' | tr '\n' ' ')" >&2
  exit 2
fi
source ./ensure-deps.sh
exec node "scenarios/$scenario.mjs"
