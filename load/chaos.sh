#!/usr/bin/env bash
# The fault campaign: sends through two api instances and a worker while the worker, an api,
# PostgreSQL's connections and the run's own Redis (appendfsync always) are killed in turn; then
# checks every acknowledged message is stored exactly once. See load/README.md, "Fault campaign".
#
#   load/chaos.sh            # 50,000 messages, a fault every 10 s (make chaos)
#   SMOKE=1 load/chaos.sh    # 3,000 messages, a fault every second (make test runs this)
set -euo pipefail
cd "$(dirname "$0")"
export ARTILLERY_DISABLE_TELEMETRY=true PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
[[ -d ../node_modules ]] || { echo "run npm ci in $(cd .. && pwd) first (the app's own dependencies)"; exit 1; }
exec node chaos/chaos.mjs
