#!/usr/bin/env bash
# Make the pgvector extension available to the locally running Debian PostgreSQL.
#
# Debian bookworm has no postgresql-<major>-pgvector package, so (see
# docs/architecture.md, "Local services"):
#   * the pgvector source comes from Debian trixie through a PRIVATE apt config
#     (own sources/lists/cache dirs; /etc/apt is never modified),
#   * postgresql-server-dev-<major> (headers) and, on bookworm, postgresql-client-<major>
#     (pg_config + PGXS makefiles) are downloaded and unpacked with dpkg-deb -x into a
#     private prefix (never apt-installed: that would upgrade the server),
#   * the extension is built against that prefix and vector.so, vector.control
#     and sql/vector--*.sql are copied into the running server's directories.
#
# Idempotent: exits at once when CREATE EXTENSION vector already works.
# Must run as root (writes into /usr/lib/postgresql and /usr/share/postgresql).
#
# Environment:
#   PGVECTOR_CHECK_URL   server used for the check (default postgres://postgres@127.0.0.1:5432/postgres)
#   PGVECTOR_CACHE_DIR   work/cache dir (default /var/cache/parley-pgvector)
#   PGVECTOR_SUITE       Debian suite providing the source (default trixie)
#   PGVECTOR_MIRROR      Debian mirror URI (default: the one in /etc/apt/sources.list.d/debian.sources)
#   PG_MAJOR             PostgreSQL major version (default: detected)
#   PGVECTOR_REFRESH=1   re-fetch the pgvector source even if one is cached
set -euo pipefail

CHECK_URL="${PGVECTOR_CHECK_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
CACHE_DIR="${PGVECTOR_CACHE_DIR:-/var/cache/parley-pgvector}"
SUITE="${PGVECTOR_SUITE:-trixie}"
export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-3}"

log() { printf '[pgvector] %s\n' "$*" >&2; }
die() { printf '[pgvector] ERROR: %s\n' "$*" >&2; exit 1; }

psql_q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

server_up() { pg_isready -q -d "$CHECK_URL" >/dev/null 2>&1; }

# Works when vector can be created (and its library loaded) in a rolled-back transaction.
extension_works() {
  psql_q -d "$CHECK_URL" >/dev/null 2>&1 <<'SQL'
SET client_min_messages = warning;
BEGIN;
CREATE EXTENSION IF NOT EXISTS vector;
SELECT '[1,2,3]'::vector <-> '[1,2,4]'::vector;
ROLLBACK;
SQL
}

# PostgreSQL major version: running server, else newest cluster in /etc/postgresql.
pg_major() {
  if [[ -n "${PG_MAJOR:-}" ]]; then echo "$PG_MAJOR"; return; fi
  local num
  if server_up && num="$(psql_q -d "$CHECK_URL" -c 'SHOW server_version_num' 2>/dev/null)" && [[ "$num" =~ ^[0-9]+$ ]]; then
    echo $((num / 10000)); return
  fi
  if [[ -d /etc/postgresql ]]; then
    num="$(ls /etc/postgresql | grep -E '^[0-9]+$' | sort -n | tail -n 1 || true)"
    [[ -n "$num" ]] && { echo "$num"; return; }
  fi
  die "cannot detect the PostgreSQL major version (server down and no /etc/postgresql/<major>)"
}

# A directory of the running server (PKGLIBDIR / SHAREDIR) from its pg_config view
# (superuser only), else the Debian default.
server_dir() {
  local name="$1" fallback="$2" dir=""
  if server_up; then
    dir="$(psql_q -d "$CHECK_URL" -c "SELECT setting FROM pg_config WHERE name = '$name'" 2>/dev/null || true)"
  fi
  if [[ -n "$dir" && -d "$dir" ]]; then echo "$dir"; else echo "$fallback"; fi
}

MAJOR="$(pg_major)"
pg_lib()   { server_dir PKGLIBDIR "/usr/lib/postgresql/$MAJOR/lib"; }
pg_share() { server_dir SHAREDIR "/usr/share/postgresql/$MAJOR"; }

# ---------------------------------------------------------------- fast path
if server_up; then
  if extension_works; then
    log "already available on PostgreSQL $MAJOR (CREATE EXTENSION vector works); nothing to do"
    exit 0
  fi
  log "CREATE EXTENSION vector fails on PostgreSQL $MAJOR; building it"
else
  if [[ -f "/usr/share/postgresql/$MAJOR/extension/vector.control" && -f "/usr/lib/postgresql/$MAJOR/lib/vector.so" ]]; then
    log "server not reachable, but vector.control and vector.so are installed for PostgreSQL $MAJOR; nothing to do"
    exit 0
  fi
  log "server not reachable at $CHECK_URL and pgvector files missing; building for PostgreSQL $MAJOR"
fi

[[ "$(id -u)" -eq 0 ]] || die "must run as root (installs into the PostgreSQL system directories)"

LIBDIR="$(pg_lib)"
EXTDIR="$(pg_share)/extension"
[[ -d "$LIBDIR" && -d "$EXTDIR" ]] || die "PostgreSQL $MAJOR directories not found ($LIBDIR, $EXTDIR)"

# ---------------------------------------------------------------- build tools
missing=()
for tool in make:make gcc:gcc dpkg-deb:dpkg tar:tar; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
[[ -e /usr/include/stdio.h ]] || missing+=(libc6-dev)
if ((${#missing[@]})); then
  log "installing build tools: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "could not install ${missing[*]}"
fi

mkdir -p "$CACHE_DIR"
exec 9>"$CACHE_DIR/lock"
flock -w 600 9 || die "another install-pgvector.sh holds $CACHE_DIR/lock"
if server_up && extension_works; then   # a concurrent run may have finished meanwhile
  log "installed meanwhile by another run; nothing to do"
  exit 0
fi

BUILD_LOG="$CACHE_DIR/build.log"
: >"$BUILD_LOG"
run_logged() { # run quietly; on failure show the end of the log
  if ! "$@" >>"$BUILD_LOG" 2>&1; then
    tail -n 25 "$BUILD_LOG" | sed 's/^/[pgvector]   | /' >&2
    die "failed: $* (full log: $BUILD_LOG)"
  fi
}

# ---------------------------------------------------------------- private apt config
# Mirror: the URI of the (non-security) Debian stanza this machine already uses.
mirror="${PGVECTOR_MIRROR:-}"
signed_by=""
if [[ -z "$mirror" && -f /etc/apt/sources.list.d/debian.sources ]]; then
  read -r mirror signed_by < <(awk '
    function flush() { if (uri != "" && uri !~ /security/ && !done) { print uri, key; done = 1 } uri = ""; key = "" }
    /^[[:space:]]*$/ { flush(); next }
    /^URIs:/      { uri = $2 }
    /^Signed-By:/ { key = $2 }
    END { flush() }' /etc/apt/sources.list.d/debian.sources) || true
fi
if [[ -z "$mirror" && -f /etc/apt/sources.list ]]; then
  mirror="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
fi
[[ -n "$mirror" ]] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources (set PGVECTOR_MIRROR)"
[[ -n "$signed_by" && -f "$signed_by" ]] || signed_by=/usr/share/keyrings/debian-archive-keyring.gpg

APT_DIR="$CACHE_DIR/apt"
mkdir -p "$APT_DIR/sources.list.d" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
: >"$APT_DIR/sources.list"
cat >"$APT_DIR/sources.list.d/pgvector-src.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: $SUITE
Components: main
Signed-By: $signed_by
EOF
APT_PRIVATE=(
  -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
  -o "Dir::Etc::SourceParts=$APT_DIR/sources.list.d"
  -o "Dir::State::Lists=$APT_DIR/lists"
  -o "Dir::Cache=$APT_DIR/cache"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
)

DL_DIR="$CACHE_DIR/downloads"
mkdir -p "$DL_DIR"
# Let apt's unprivileged downloader write here (avoids the "unsandboxed as root" warning).
if id _apt >/dev/null 2>&1; then chown _apt "$DL_DIR" "$APT_DIR/lists/partial" 2>/dev/null || true; fi

# ---------------------------------------------------------------- pgvector source
# Downloaded once and kept in the cache; PGVECTOR_REFRESH=1 fetches the suite's current one.
latest_dsc() { ls "$DL_DIR"/pgvector_*.dsc 2>/dev/null | sort -V | tail -n 1 || true; }
if [[ -z "$(latest_dsc)" || "${PGVECTOR_REFRESH:-0}" == 1 ]]; then
  log "fetching pgvector source from $mirror ($SUITE, deb-src, private apt config in $APT_DIR)"
  run_logged apt-get -q "${APT_PRIVATE[@]}" update
  (cd "$DL_DIR" && run_logged apt-get -q "${APT_PRIVATE[@]}" source --download-only pgvector)
fi
dsc="$(latest_dsc)"
[[ -n "$dsc" ]] || die "apt-get source did not download pgvector (see $BUILD_LOG)"
upstream="$(basename "$dsc" .dsc)"; upstream="${upstream#pgvector_}"; upstream="${upstream%-*}"
orig="$(ls "$DL_DIR"/pgvector_"$upstream".orig.tar.* 2>/dev/null | head -n 1 || true)"
[[ -n "$orig" ]] || die "no orig tarball for pgvector $upstream in $DL_DIR"

# ---------------------------------------------------------------- server headers + PGXS
# postgresql-server-dev-<major> holds the server headers. On bookworm, pg_config and the
# PGXS makefiles live in postgresql-client-<major>, so that package is unpacked into the
# same prefix too (the unpacked pg_config is relocatable: it reports paths under PREFIX).
# Versions: exactly the installed server/client when apt still has it, else the candidate.
PREFIX="$CACHE_DIR/pg$MAJOR-dev"
PG_CONFIG="$PREFIX/usr/lib/postgresql/$MAJOR/bin/pg_config"
apt_updated=""
fetch_into_prefix() { # <package> <preferred version or empty>
  local pkg="$1" ver="$2" deb
  rm -f "$DL_DIR/${pkg}"_*.deb
  if ! (cd "$DL_DIR" && { { [[ -n "$ver" ]] && apt-get -q download "$pkg=$ver"; } || apt-get -q download "$pkg"; }) >>"$BUILD_LOG" 2>&1; then
    [[ -z "$apt_updated" ]] || die "apt-get download $pkg failed (see $BUILD_LOG)"
    log "$pkg not in the apt lists; running apt-get update (bookworm lists)"
    run_logged apt-get -q update
    apt_updated=1
    fetch_into_prefix "$@"
    return
  fi
  deb="$(ls "$DL_DIR/${pkg}"_*.deb | head -n 1)"
  log "unpacking $(basename "$deb") into $PREFIX"
  run_logged dpkg-deb -x "$deb" "$PREFIX"
}
if [[ ! -x "$PG_CONFIG" || ! -d "$PREFIX/usr/include/postgresql/$MAJOR/server" ]]; then
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX"
  fetch_into_prefix "postgresql-server-dev-$MAJOR" "$(dpkg-query -W -f='${Version}' "postgresql-$MAJOR" 2>/dev/null || true)"
  if [[ ! -x "$PG_CONFIG" ]]; then
    fetch_into_prefix "postgresql-client-$MAJOR" "$(dpkg-query -W -f='${Version}' "postgresql-client-$MAJOR" 2>/dev/null || true)"
  fi
fi
[[ -x "$PG_CONFIG" ]] || die "$PG_CONFIG missing after unpacking the PostgreSQL $MAJOR packages"
[[ "$("$PG_CONFIG" --includedir-server)" == "$PREFIX"/* ]] \
  || die "$PG_CONFIG does not report paths under $PREFIX ($("$PG_CONFIG" --includedir-server))"

# ---------------------------------------------------------------- build
SRC="$CACHE_DIR/build/pg$MAJOR/pgvector-$upstream"
if [[ ! -f "$SRC/vector.so" ]]; then
  log "building pgvector $upstream for PostgreSQL $MAJOR (log: $BUILD_LOG)"
  rm -rf "$SRC"
  mkdir -p "$SRC"
  run_logged tar -xf "$orig" -C "$SRC" --strip-components=1
  start=$SECONDS
  run_logged make -C "$SRC" -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG" with_llvm=no OPTFLAGS=""
  log "built in $((SECONDS - start)) s"
else
  log "reusing the pgvector $upstream build in $SRC"
fi

# ---------------------------------------------------------------- install
# The private pg_config points into $PREFIX, so copy into the server's directories explicitly.
shopt -s nullglob
sql_files=("$SRC"/sql/vector--*.sql)
shopt -u nullglob
[[ -f "$SRC/vector.so" && -f "$SRC/vector.control" && ${#sql_files[@]} -gt 0 ]] || die "build output incomplete in $SRC"
log "installing vector.so into $LIBDIR and vector.control + ${#sql_files[@]} SQL scripts into $EXTDIR"
install -m 0755 "$SRC/vector.so" "$LIBDIR/.vector.so.tmp.$$"
mv -f "$LIBDIR/.vector.so.tmp.$$" "$LIBDIR/vector.so"   # atomic for a running server
install -m 0644 "${sql_files[@]}" "$EXTDIR/"
install -m 0644 "$SRC/vector.control" "$EXTDIR/vector.control"   # last: marks the install complete

# ---------------------------------------------------------------- verify
if server_up; then
  extension_works || die "installed, but CREATE EXTENSION vector still fails on $CHECK_URL"
  log "pgvector $upstream installed; CREATE EXTENSION vector works (checked in a rolled-back transaction)"
else
  log "pgvector $upstream installed; server not reachable at $CHECK_URL, CREATE EXTENSION not checked"
fi
