#!/usr/bin/env bash
# Runs one artillery scenario against a running Parley and reports latency, throughput,
# GraphQL errors by code, the widget's PERSISTED figures, and the PostgreSQL work the run
# caused (commits and inserted rows, read from pg_stat_database before and after).
#
#   load/artillery/run.sh [scenario]   make load SCENARIO=<scenario>; the scenarios: usage below
#
# Environment: TARGET (http://localhost:$PORT; PORT 4000, as for make dev), RATE (arrivals/s
# after a 10 s ramp, 20), DURATION (s, 60), PUBLIC_KEY (pk_demo_coffee), OWNER_EMAIL /
# OWNER_PASSWORD (the demo owner), FLOW (one scenario's flow alone, by name),
# PERSISTED_TIMEOUT_MILLIS (10000), DATABASE_URL (the api's database). Start the api with
# load/artillery/profile.env (load/README.md, "Artillery scenarios").
# Exit status 1 when a virtual user failed, 2 on a usage error.
set -euo pipefail
# From load/: its own dependencies (ensure-deps.sh) and results/ are there.
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
usage: load/artillery/run.sh [scenario]        (make load SCENARIO=<scenario>; default chat-writes)

  owner-reads   the demo owner's dashboard: bots, one bot with its sources, 3 searches
  chat-writes   sendMessage: widget visitors (4 in 5, session + 5 sends) and the owner (3 sends)
  widget-flow   a visitor sends 3 messages and waits for each to turn PERSISTED over graphql-ws
  mixed         70 % owner reads, 30 % chat writes, by virtual users

Environment: TARGET, RATE, DURATION, PUBLIC_KEY, OWNER_EMAIL, OWNER_PASSWORD, FLOW,
PERSISTED_TIMEOUT_MILLIS, DATABASE_URL (see load/README.md, "Artillery scenarios").
EOF
}

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
scenario="${1:-chat-writes}"
if [[ ! "$scenario" =~ ^[a-z0-9-]+$ || ! -f "artillery/scenarios/$scenario.yml" ]]; then
  echo "load/artillery/run.sh: unknown scenario '$scenario'" >&2
  usage >&2
  exit 2
fi

export TARGET="${TARGET:-http://localhost:${PORT:-4000}}" RATE="${RATE:-20}" DURATION="${DURATION:-60}"
export PUBLIC_KEY="${PUBLIC_KEY:-pk_demo_coffee}"
export OWNER_EMAIL="${OWNER_EMAIL:-demo@parley.dev}" OWNER_PASSWORD="${OWNER_PASSWORD:-parley-demo}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/parley}"

# Its own dependencies (artillery is large and only operators need it), as the benchmarks do.
source ./ensure-deps.sh
curl -fsS "$TARGET/health/db" >/dev/null || { echo "Parley does not answer at $TARGET/health/db: start it (make dev)" >&2; exit 1; }

# One startWidgetSession shows the limits the api runs with (its RateLimit-Policy header), and
# whether the bot exists. Below the load profile's limits the run would measure 429s, not the api.
probe="$(curl -sS -D - -H 'content-type: application/json' \
  --data "{\"query\":\"mutation(\$k:String!){startWidgetSession(publicKey:\$k){token}}\",\"variables\":{\"k\":\"$PUBLIC_KEY\"}}" \
  "$TARGET/graphql" | tr -d '\r')"
policy="$(grep -i '^ratelimit-policy:' <<<"$probe" | cut -d' ' -f2- || true)"
lowest="$(grep -o 'q=[0-9]*' <<<"$policy" | cut -d= -f2 | sort -n | head -1 || true)"
if [[ -n "$lowest" && "$lowest" -lt 100000 ]]; then
  echo "warning: the api runs with low rate limits ($policy); expect 429 RATE_LIMITED." >&2
  echo "         Start it with the load profile: set -a; . load/artillery/profile.env; set +a; make dev" >&2
fi
if ! grep -q '"token"' <<<"$probe"; then
  echo "warning: startWidgetSession(publicKey: \"$PUBLIC_KEY\") was refused; the visitor flows will fail:" >&2
  tail -n 1 <<<"$probe" >&2
fi

db_stats() {
  psql -X -A -t -d "$DATABASE_URL" -c \
    "SELECT xact_commit, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = current_database()"
}
messages() { psql -X -A -t -d "$DATABASE_URL" -c "SELECT count(*) FROM messages"; }

# With the write buffer, sends are stored after the run: wait (up to 60 s) until the buffer
# is empty, so "messagesStored" and the PostgreSQL figures include them. Prints the write path.
drain() {
  local health deadline=$((SECONDS + 60))
  while :; do
    health="$(curl -sS "$TARGET/health/buffer" || echo '{}')"
    case "$(node -e 'const h = JSON.parse(process.argv[1] || "{}");
      console.log(h.enabled === false ? "direct" : h.depth === 0 && h.inFlightIntents === 0 ? "buffered" : "busy")' "$health")" in
      direct) echo direct; return ;;
      buffered) echo buffered; return ;;
    esac
    ((SECONDS < deadline)) || { echo "buffered (not drained after 60 s)"; return; }
    sleep 0.5
  done
}

mkdir -p results
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
report="results/$scenario-$stamp.json"
flow=()
[[ -n "${FLOW:-}" ]] && flow=(--scenario-name "$FLOW")
before="$(db_stats)"; messages_before="$(messages)"
# artillery reports its own failures (an unknown FLOW, a failed log-in) on stdout: kept in a log.
if ! npx artillery run --quiet "${flow[@]}" --output "$report" "artillery/scenarios/$scenario.yml" >"${report%.json}.log" 2>&1; then
  echo "artillery failed; the end of load/${report%.json}.log:" >&2
  tail -n 15 "${report%.json}.log" >&2
  exit 1
fi
write_path="$(drain)"
# Statistics reach pg_stat_database when a backend's transaction ends; give them a moment.
sleep 1
after="$(db_stats)"; messages_after="$(messages)"

node - "$report" "$before" "$after" "$messages_before" "$messages_after" "$write_path" <<'JS'
const [report, before, after, mBefore, mAfter, writePath] = process.argv.slice(2);
const { aggregate } = require(require('path').resolve(report));
const [c0, i0, u0] = before.split('|').map(Number);
const [c1, i1, u1] = after.split('|').map(Number);
const stored = Number(mAfter) - Number(mBefore);
const counters = aggregate.counters;
const summaries = aggregate.summaries;
const pick = (prefix) => Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith(prefix)));
const percentiles = (s) => s && { count: s.count, p50: s.median, p95: s.p95, p99: s.p99, max: s.max };
const rt = summaries['http.response_time'];
const widgetTimings = Object.fromEntries(
  Object.entries(summaries).filter(([k]) => k.startsWith('widget.')).map(([k, s]) => [k, percentiles(s)]),
);
const summary = {
  scenario: report,
  writePath,
  requests: counters['http.requests'],
  rps: aggregate.rates?.['http.request_rate'],
  latencyMillis: percentiles(rt),
  httpCodes: pick('http.codes.'),
  graphql: pick('graphql.'),
  virtualUsers: {
    created: counters['vusers.created'] ?? 0,
    completed: counters['vusers.completed'] ?? 0,
    failed: counters['vusers.failed'] ?? 0,
    byFlow: Object.fromEntries(
      Object.entries(pick('vusers.created_by_name.')).map(([k, n]) => [k.slice('vusers.created_by_name.'.length), n]),
    ),
  },
  vuserErrors: pick('errors.'),
  ...(Object.keys(widgetTimings).length > 0 && { widget: { ...widgetTimings, ...pick('widget.') } }),
  messagesStored: stored,
  postgres: {
    commits: c1 - c0,
    rowsInserted: i1 - i0,
    rowsUpdated: u1 - u0,
    commitsPerStoredMessage: stored ? +((c1 - c0) / stored).toFixed(2) : null,
  },
};
console.log(JSON.stringify(summary, null, 2));
process.exitCode = summary.virtualUsers.failed > 0 ? 1 : 0;
JS
