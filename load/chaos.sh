#!/usr/bin/env bash
# The fault campaign: sends through two api instances and a worker while the worker, an api,
# PostgreSQL's connections and the run's own Redis (appendfsync always) are killed in turn; then
# checks every acknowledged message is stored exactly once. See load/README.md, "Fault campaign".
#
#   load/chaos.sh            # 50,000 messages, a fault every 10 s (make chaos)
#   SMOKE=1 load/chaos.sh    # 3,000 messages, a fault every second (make test runs this)
set -euo pipefail
cd "$(dirname "$0")"
source ./ensure-deps.sh
exec node chaos/chaos.mjs
