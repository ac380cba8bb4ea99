#!/usr/bin/env bash
# Runs one artillery scenario against a running Parley and reports latency, throughput,
# GraphQL errors, and the PostgreSQL work it caused (commits and inserted rows, read from
# pg_stat_database before and after).
#
#   load/run.sh [scenario]       scenario: a file in load/scenarios without .yml (default chat-writes)
#
# Environment: TARGET (http://localhost:4000), RATE (arrivals/s, 20), DURATION (s, 60),
# PUBLIC_KEY (pk_demo_coffee, from `npm run seed`), DATABASE_URL (the api's database).
set -euo pipefail
cd "$(dirname "$0")"

scenario="${1:-chat-writes}"
export TARGET="${TARGET:-http://localhost:4000}" RATE="${RATE:-20}" DURATION="${DURATION:-60}"
export PUBLIC_KEY="${PUBLIC_KEY:-pk_demo_coffee}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/parley}"
export ARTILLERY_DISABLE_TELEMETRY=true PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

# Its own dependencies: artillery is large and only operators need it.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
curl -fsS "$TARGET/health/db" >/dev/null || { echo "Parley does not answer at $TARGET/health/db: start it (make dev)"; exit 1; }

db_stats() {
  psql -X -A -t -d "$DATABASE_URL" -c \
    "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()"
}
messages() { psql -X -A -t -d "$DATABASE_URL" -c "SELECT count(*) FROM messages"; }

mkdir -p results
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
report="results/$scenario-$stamp.json"
before="$(db_stats)"; messages_before="$(messages)"
npx artillery run --quiet --output "$report" "scenarios/$scenario.yml" >/dev/null
# Statistics reach pg_stat_database when a backend's transaction ends; give them a moment.
sleep 1
after="$(db_stats)"; messages_after="$(messages)"

node - "$report" "$before" "$after" "$messages_before" "$messages_after" <<'JS'
const [report, before, after, mBefore, mAfter] = process.argv.slice(2);
const { aggregate } = require(require('path').resolve(report));
const [c0, i0, u0] = before.split('|').map(Number);
const [c1, i1, u1] = after.split('|').map(Number);
const stored = Number(mAfter) - Number(mBefore);
const rt = aggregate.summaries['http.response_time'] ?? {};
const counters = aggregate.counters;
const sends = Object.entries(counters).filter(([k]) => k.startsWith('graphql.'));
console.log(JSON.stringify({
  scenario: report,
  requests: counters['http.requests'],
  rps: aggregate.rates?.['http.request_rate'],
  latencyMillis: { p50: rt.median, p95: rt.p95, p99: rt.p99, max: rt.max },
  httpCodes: Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith('http.codes.'))),
  graphql: Object.fromEntries(sends),
  failedVirtualUsers: counters['vusers.failed'] ?? 0,
  messagesStored: stored,
  postgres: {
    commits: c1 - c0,
    rowsInserted: i1 - i0,
    rowsUpdated: u1 - u0,
    commitsPerStoredMessage: stored ? +((c1 - c0) / stored).toFixed(2) : null,
  },
}, null, 2));
JS
