#!/usr/bin/env bash
# The rate-limit benchmark: what @rateLimit costs a sendMessage (RATE_LIMIT_ENABLED=true with
# limits nothing reaches against false, alternating, api + 1 worker, Redis on), and how the
# limits behave at 3× the per-user limit (20 users + 1 ENTERPRISE, open loop); prints tables
# and pass/FAIL checks and cleans up (its processes, its database, its Redis keys). See
# load/README.md, "Rate-limit benchmark".
#
#   load/bench-limits.sh
#
# Environment: COST_SENDS (10000 per run), COST_CONNECTIONS (50), COST_WARMUP_SENDS (1000),
# COST_ROUNDS (4: on/off four times), COST_LIMIT (100000000 per 60 s for every policy),
# SENDS_PER_CONVERSATION (5), BURST_USERS (20), BURST_RATE (30 per user per s), BURST_SECONDS
# (30), BURST_WINDOW_SECONDS (10), BURST_USER_LIMIT (100), BURST_IP_LIMIT (200),
# BURST_BOT_LIMIT (500), BURST_GLOBAL_LIMIT (1000000), BURST_CONNECTIONS_PER_USER (10),
# BURST_WARMUP_SENDS (300), REQUEST_TIMEOUT_SECONDS (30),
# PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres), REDIS_PORT (6379),
# BASE_PORT (4641: targets on 4641-4643, seeding on 4650), PARLEY_DIST (a built dist/ to use
# instead of building HEAD in a temporary folder).
set -euo pipefail
cd "$(dirname "$0")"
source ./ensure-deps.sh
exec node bench-limits/bench-limits.mjs
