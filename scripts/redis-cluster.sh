#!/usr/bin/env bash
# A local Redis Cluster for Parley's cluster mode: 3 masters and 3 replicas on loopback ports
# 7001-7006 (AOF on, appendfsync everysec, noeviction), one folder each under
# $REDIS_CLUSTER_DIR. Idempotent: a cluster that answers `cluster_state:ok` on every port is
# used as it is; nodes that are down are started again from their folders (they keep their
# node ids and slots); a cluster never formed is created with `redis-cli --cluster create`.
#
#   scripts/redis-cluster.sh start    start or reuse; prints REDIS_CLUSTER_NODES for Parley
#   scripts/redis-cluster.sh stop     SHUTDOWN every node (their folders stay)
#   scripts/redis-cluster.sh reset    stop, delete the folders (a fresh cluster next start)
#   scripts/redis-cluster.sh status   CLUSTER INFO and the nodes, from the first port
#
# Environment: REDIS_CLUSTER_DIR (default /var/lib/redis-cluster), REDIS_CLUSTER_PORTS
# (default "7001 7002 7003 7004 7005 7006": the first three become masters),
# REDIS_CLUSTER_WAIT_SECONDS (default 30).
set -euo pipefail

DIR="${REDIS_CLUSTER_DIR:-/var/lib/redis-cluster}"
read -r -a PORTS <<<"${REDIS_CLUSTER_PORTS:-7001 7002 7003 7004 7005 7006}"
WAIT_SECONDS="${REDIS_CLUSTER_WAIT_SECONDS:-30}"

log() { printf '[redis-cluster] %s\n' "$*" >&2; }
die() { printf '[redis-cluster] ERROR: %s\n' "$*" >&2; exit 1; }
for tool in redis-server redis-cli; do command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"; done
((${#PORTS[@]} % 2 == 0 && ${#PORTS[@]} >= 6)) || die "REDIS_CLUSTER_PORTS needs an even number of ports, at least 6 (masters and one replica each)"

cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null; }
up() { [[ "$(cli "$1" ping)" == PONG ]]; }
state_ok() { cli "$1" cluster info | tr -d '\r' | grep -qx 'cluster_state:ok'; }
known_nodes() { cli "$1" cluster info | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'; }
nodes_list() { local IFS=,; local hosts=("${PORTS[@]/#/127.0.0.1:}"); echo "${hosts[*]}"; }

wait_until() { # <description> <command...>
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "${@:2}"; do
    ((SECONDS < deadline)) || die "$1 within ${WAIT_SECONDS}s (logs: $DIR/<port>/redis.log)"
    sleep 0.2
  done
}

all_state_ok() { local p; for p in "${PORTS[@]}"; do state_ok "$p" || return 1; done; }

start_node() {
  local port="$1"
  mkdir -p "$DIR/$port"
  up "$port" && return 0
  log "starting node $port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --dir "$DIR/$port" \
    --logfile "$DIR/$port/redis.log" --pidfile "$DIR/$port/redis.pid" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --appendonly yes --appendfsync everysec --save '' --maxmemory-policy noeviction >/dev/null
}

cluster_enabled() { cli "$1" info cluster | tr -d '\r' | grep -qx 'cluster_enabled:1'; }
# Every port's node id is in the first node's view: the ports form one cluster, not parts of several.
one_cluster() {
  local view p id
  view="$(cli "${PORTS[0]}" cluster nodes)"
  for p in "${PORTS[@]}"; do
    id="$(cli "$p" cluster myid | tr -d '\r')"
    [[ -n "$id" && "$view" == *"$id"* ]] || return 1
  done
}

start() {
  local port
  mkdir -p "$DIR" 2>/dev/null && [[ -w "$DIR" ]] \
    || die "cannot write $DIR; set REDIS_CLUSTER_DIR to a folder you can write"
  # A port held by something else is found before anything is started.
  for port in "${PORTS[@]}"; do
    if up "$port" && ! cluster_enabled "$port"; then
      die "a Redis without cluster support answers on port $port; stop it, or set REDIS_CLUSTER_PORTS"
    fi
  done
  for port in "${PORTS[@]}"; do start_node "$port"; done
  for port in "${PORTS[@]}"; do wait_until "node $port did not answer" up "$port"; done
  if [[ "$(known_nodes "${PORTS[0]}")" == "${#PORTS[@]}" ]]; then
    one_cluster || die "the nodes on ports ${PORTS[*]} are not one cluster; run scripts/redis-cluster.sh reset"
    wait_until "the cluster did not reach cluster_state:ok" all_state_ok
    log "cluster on ports ${PORTS[*]} is up (cluster_state:ok)"
  else
    local p
    for p in "${PORTS[@]}"; do
      [[ "$(known_nodes "$p")" == 1 ]] || die "node $p already belongs to another cluster; run scripts/redis-cluster.sh reset"
    done
    log "creating the cluster: $((${#PORTS[@]} / 2)) masters with one replica each"
    # shellcheck disable=SC2046
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") --cluster-replicas 1 --cluster-yes >/dev/null \
      || die "redis-cli --cluster create failed"
    wait_until "the new cluster did not reach cluster_state:ok" all_state_ok
    log "cluster created on ports ${PORTS[*]}"
  fi
  echo "REDIS_CLUSTER_NODES=$(nodes_list)"
}

stop() {
  local port
  for port in "${PORTS[@]}"; do
    up "$port" && { cli "$port" shutdown nosave >/dev/null || true; log "stopped node $port"; }
  done
  return 0
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  reset) stop; rm -rf "${PORTS[@]/#/$DIR/}"; log "deleted the nodes' folders under $DIR" ;;
  status) cli "${PORTS[0]}" cluster info | tr -d '\r' | grep -E '^cluster_(state|slots_assigned|known_nodes|size):'; cli "${PORTS[0]}" cluster nodes ;;
  *) echo "usage: scripts/redis-cluster.sh start|stop|reset|status" >&2; exit 2 ;;
esac
