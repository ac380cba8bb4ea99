#!/usr/bin/env bash
# `make bench`: Parley (1 and 2 api instances + worker), its rollback mode and the peers in
# load/peers/, side by side in one run; writes load/results/<date>/report.md, report.json and
# SVG charts. See load/README.md, "make bench".
#
#   load/bench.sh              # full: 10,000 and 50,000 sends from 10,000 connections (< 15 min)
#   QUICK=1 load/bench.sh      # the same phases, smaller (< 2 min); load/results/<date>-quick/
#   SMOKE=1 load/bench.sh      # the smallest run of every phase (make test runs it)
#
# Environment: see the top of bench/bench.mjs (every figure can be set, e.g. SENDS=20000).
set -euo pipefail
cd "$(dirname "$0")"
source ./ensure-deps.sh
exec node bench/bench.mjs
