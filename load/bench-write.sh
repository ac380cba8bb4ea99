#!/usr/bin/env bash
# The write benchmark: sendMessage through the Redis write buffer (api + one worker) and in
# rollback mode (REDIS_ENABLED=false), one after another on one fresh database with the same
# load, at CONNECTIONS and then CONNECTIONS_BIG; prints a table and cleans up (its processes,
# its database, its Redis keys). See load/README.md, "Write benchmark".
#
#   load/bench-write.sh
#
# Environment: SENDS (10000 per run), CONNECTIONS (100), CONNECTIONS_BIG (1000; 0 skips that
# run), WARMUP_SENDS (500, at least one per connection), SENDS_PER_CONVERSATION (5),
# TARGETS (redis,rollback), DRAIN_TIMEOUT_SECONDS (120), DRAIN_POLL_MILLIS (50),
# STATS_SETTLE_SECONDS (11), REQUEST_TIMEOUT_SECONDS (60),
# PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres), REDIS_PORT (6379),
# BASE_PORT (4621: targets on 4621-4622, seeding on 4630), PARLEY_DIST (a built dist/ to use
# instead of building HEAD in a temporary folder).
set -euo pipefail
cd "$(dirname "$0")"
source ./ensure-deps.sh
exec node bench-write/bench-write.mjs
