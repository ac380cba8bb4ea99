#!/usr/bin/env bash
# The read benchmark of issue 6: Parley with Redis, Parley in rollback mode and an Apollo
# response-cache peer, one after another on one fresh database, with the same load; prints a
# table and cleans up (its processes, its database, its Redis keys). See load/README.md,
# "Read benchmark".
#
#   load/bench-read.sh
#
# Environment: CONCURRENCY (100), WARMUP_SECONDS (10), DURATION_SECONDS (40), BOTS (100),
# ZIPF_S (1.1), TARGETS (redis,rollback,peer), UPDATES_PER_TICK (3), READS_PER_UPDATE (5),
# PG_ADMIN_URL (postgres://postgres@127.0.0.1:5432/postgres), REDIS_PORT (6379),
# BASE_PORT (4601: targets on 4601-4603, seeding on 4610-4611), PARLEY_DIST (a built dist/
# to use instead of building HEAD in a temporary folder), TARGET_NODE_ARGS (node flags
# for the measured Parley targets only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
set -euo pipefail
cd "$(dirname "$0")"
source ./ensure-deps.sh
exec node bench-read/bench-read.mjs
