#!/usr/bin/env bash
# Make sure PostgreSQL (with pgvector) and Redis are reachable for Parley, and that the
# database named in DATABASE_URL exists. Idempotent; safe to run before every test run.
#
#   1. Both answer already (pg_isready on DATABASE_URL, PING on REDIS_URL) -> use them.
#   2. Otherwise, start the ones that are down:
#      - Docker engine running and a compose file in the repo root:
#          docker compose up -d --wait <postgres|redis>
#      - else the locally installed servers (see docs/architecture.md, "Local services"):
#          pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
#          redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
#            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
#      and wait (bounded) until both answer.
#   3. pgvector: when DATABASE_URL points at an online local Debian cluster, run
#      scripts/install-pgvector.sh; for Docker or another server only check that the
#      extension is available (pg_available_extensions) and fail if not.
#   4. CREATE DATABASE <name from DATABASE_URL> unless it exists (through the `postgres`
#      maintenance database on the same host/port/user/password).
#
# Environment:
#   DATABASE_URL           default postgres://postgres@127.0.0.1:5432/parley
#   REDIS_URL              default redis://127.0.0.1:6379
#   REDIS_PASSWORD         default: REDIS_PASSWORD in .env, else "parley-dev"; docker-compose.yml's
#                          Redis requires one, and PING sends it (a Redis without one ignores it)
#   SERVICES_WAIT_SECONDS  how long to wait for started services (default 30)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/parley}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
# Compose reads .env itself; this script reads the same line, so both use one password.
env_file_password() {
  [[ -f "$ROOT/.env" ]] || return 0
  local value
  value="$(sed -n -E 's/^[[:space:]]*REDIS_PASSWORD[[:space:]]*=[[:space:]]*//p' "$ROOT/.env" | tail -n 1)"
  if [[ "$value" =~ ^\"([^\"]*)\" || "$value" =~ ^\'([^\']*)\' ]]; then
    value="${BASH_REMATCH[1]}"
  else
    [[ "$value" == \#* ]] && value=''          # nothing but a comment
    value="${value%%[[:space:]]#*}"              # an inline comment
    value="${value%"${value##*[![:space:]]}"}"   # trailing blanks
  fi
  printf '%s' "$value"
}
REDIS_PASSWORD="${REDIS_PASSWORD:-$(env_file_password)}"
# Only for development: the Redis that compose starts is published on 127.0.0.1 only.
DEV_REDIS_PASSWORD=parley-dev
WAIT_SECONDS="${SERVICES_WAIT_SECONDS:-30}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-3}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

for tool in node psql pg_isready redis-cli; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done

# ---------------------------------------------------------------- parse DATABASE_URL
# Prints: database name, maintenance URL (same URL with database `postgres`), host, port,
# and the host:port of REDIS_URL.
parsed="$(REDIS_URL="$REDIS_URL" node -e '
  const u = new URL(process.env.DATABASE_URL);
  if (!/^postgres(ql)?:$/.test(u.protocol)) throw new Error("not a postgres:// URL");
  const db = decodeURIComponent(u.pathname.replace(/^\//, "")) || decodeURIComponent(u.username) || "postgres";
  u.pathname = "/postgres";
  const r = new URL(process.env.REDIS_URL);
  console.log([db, u.href, u.hostname, u.port || "5432", `${r.hostname || "127.0.0.1"}:${r.port || "6379"}`].join("\n"));
' 2>/dev/null)" || die "cannot parse DATABASE_URL / REDIS_URL (expected postgres://user[:password]@host[:port]/database, redis://host[:port])"
{ read -r DB_NAME; read -r MAINT_URL; read -r PG_HOST; read -r PG_PORT; read -r REDIS_HOSTPORT; } <<<"$parsed"
[[ -n "$DB_NAME" ]] || die "no database name in DATABASE_URL"
PG_DESC="PostgreSQL at ${PG_HOST:-local socket}:$PG_PORT"
REDIS_DESC="Redis at $REDIS_HOSTPORT"
PG_HOST="${PG_HOST#[}"; PG_HOST="${PG_HOST%]}"

# ---------------------------------------------------------------- probes
pg_up() { pg_isready -q -d "$MAINT_URL" >/dev/null 2>&1; }
redis_up() { [[ "$(REDISCLI_AUTH="${REDIS_PASSWORD:-$DEV_REDIS_PASSWORD}" timeout 5 redis-cli --no-auth-warning -u "$REDIS_URL" ping 2>/dev/null)" == PONG ]]; }
docker_up() { command -v docker >/dev/null 2>&1 && timeout 15 docker info >/dev/null 2>&1; }
compose_file() {
  local f
  for f in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
    [[ -f "$ROOT/$f" ]] && return 0
  done
  return 1
}
is_loopback() { [[ -z "$PG_HOST" || "$PG_HOST" == /* || "$PG_HOST" == localhost || "$PG_HOST" == 127.* || "$PG_HOST" == ::1 ]]; }
# The server on PG_PORT is a local Debian cluster (pg_lsclusters: ver cluster port status ...).
local_cluster_online() {
  is_loopback && command -v pg_lsclusters >/dev/null 2>&1 \
    && pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p && $4 ~ /^online/ { f = 1 } END { exit !f }'
}

wait_for() { # <description> <probe> <hint>
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$2"; do
    ((SECONDS < deadline)) || die "$1 did not answer within ${WAIT_SECONDS}s ($3)"
    sleep 0.5
  done
}

# ---------------------------------------------------------------- start what is down
down=()
pg_up || down+=(postgres)
redis_up || down+=(redis)

mode=running
if ((${#down[@]} == 0)); then
  log "$PG_DESC and $REDIS_DESC answer; using them"
elif docker_up && compose_file; then
  mode=docker
  log "not answering: ${down[*]}; Docker is running: docker compose up -d --wait ${down[*]}"
  if [[ -z "$REDIS_PASSWORD" ]]; then
    log "REDIS_PASSWORD is set neither in the environment nor in .env: Redis gets the development password \"$DEV_REDIS_PASSWORD\" (export REDIS_PASSWORD=$DEV_REDIS_PASSWORD for the api and worker)"
  fi
  # Compose interpolates the whole file, so even `up postgres` needs the password.
  if ! out="$(cd "$ROOT" && REDIS_PASSWORD="${REDIS_PASSWORD:-$DEV_REDIS_PASSWORD}" docker compose up -d --wait "${down[@]}" 2>&1)"; then
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/[services]   | /' >&2
    die "docker compose up failed"
  fi
else
  mode=local
  if docker_up; then
    log "Docker is running but there is no compose file in $ROOT; using the local servers"
  fi
  if [[ " ${down[*]} " == *" postgres "* ]]; then
    command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]] \
      || die "$PG_DESC is down and there is neither a Docker engine nor a local cluster to start"
    log "$PG_DESC is down; starting the local cluster (pg_ctlcluster $(ls /etc/postgresql) main start)"
    # shellcheck disable=SC2046  # the documented command; one cluster version is installed
    if ! out="$(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start 2>&1)"; then
      [[ "$out" != *"already running"* ]] \
        || die "the local cluster is already running but $PG_DESC does not answer; check DATABASE_URL (local clusters: $(pg_lsclusters -h 2>/dev/null | awk '{printf "%s%s/%s port %s %s", (NR > 1 ? ", " : ""), $1, $2, $3, $4}'))"
      log "pg_ctlcluster: ${out//$'\n'/ }"
    fi
  fi
  if [[ " ${down[*]} " == *" redis "* ]]; then
    command -v redis-server >/dev/null 2>&1 \
      || die "$REDIS_DESC is down and there is neither a Docker engine nor a local redis-server"
    [[ "$REDIS_HOSTPORT" =~ ^(127\.0\.0\.1|localhost|\[::1\]):6379$ ]] \
      || die "$REDIS_DESC is down; the local redis-server can only be started on 127.0.0.1:6379 (check REDIS_URL)"
    log "$REDIS_DESC is down; starting the local redis-server (port 6379, no persistence)"
    mkdir -p /var/lib/redis /var/log/redis
    if ! out="$(redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log 2>&1)"; then
      log "redis-server: ${out//$'\n'/ }"
    fi
  fi
fi

if ((${#down[@]})); then
  wait_for "$PG_DESC" pg_up "log: /var/log/postgresql/ or docker compose logs postgres"
  wait_for "$REDIS_DESC" redis_up "log: /var/log/redis/ci.log or docker compose logs redis"
  log "$PG_DESC and $REDIS_DESC answer"
fi

# ---------------------------------------------------------------- pgvector
# Install only into a local Debian cluster (not into a Docker container or another host).
if ! [[ "$mode" == docker && " ${down[*]} " == *" postgres "* ]] && local_cluster_online; then
  PGVECTOR_CHECK_URL="$MAINT_URL" "$ROOT/scripts/install-pgvector.sh"
else
  avail="$(psql -X -q -A -t -d "$MAINT_URL" -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'" 2>&1)" \
    || die "cannot query $PG_DESC: $avail"
  [[ "$avail" == 1 ]] || die "pgvector is not available on $PG_DESC (with Docker use the pgvector/pgvector image)"
  log "pgvector is available on $PG_DESC"
fi

# ---------------------------------------------------------------- database
db_exists() {
  local r
  r="$(psql -X -q -A -t -v ON_ERROR_STOP=1 -v db="$DB_NAME" -d "$MAINT_URL" 2>&1 <<'SQL'
SELECT count(*) FROM pg_database WHERE datname = :'db';
SQL
)" || die "cannot query $PG_DESC: $r"
  [[ "$r" == 1 ]]
}
if db_exists; then
  log "database \"$DB_NAME\" exists"
else
  if out="$(psql -X -q -v ON_ERROR_STOP=1 -v db="$DB_NAME" -d "$MAINT_URL" 2>&1 <<<'CREATE DATABASE :"db";')"; then
    log "created database \"$DB_NAME\""
  elif db_exists; then   # created concurrently
    log "database \"$DB_NAME\" exists"
  else
    die "could not create database \"$DB_NAME\": $out"
  fi
fi
