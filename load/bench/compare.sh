#!/usr/bin/env bash
# `make bench-compare`: two built trees of Parley side by side, at the same time (load/bench/compare.mjs).
#
#   BEFORE_DIST=/path/to/old/dist AFTER_DIST=dist load/bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source ./ensure-deps.sh
exec node bench/compare.mjs
