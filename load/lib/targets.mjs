// What a benchmark measures: Parley (with Redis, 1 or 2 apis and a worker; or its rollback mode)
// and the peers of load/peers/, each started afresh for a run under a Redis key prefix of its
// own (a cold cache), with a session token it accepts; and stopped, with its log's warnings.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gql, stop, waitHttp } from './harness.mjs';
import { logSummary } from './observe.mjs';

const PEERS = {
  'peer-direct': { file: 'direct-insert-peer.mjs', port: 4, label: 'Peer: Apollo 5 + Fastify, INSERT per send' },
  'peer-bullmq': {
    file: 'bullmq-peer.mjs',
    worker: 'bullmq-worker.mjs',
    port: 5,
    label: 'Peer: Apollo 5 + Fastify + BullMQ write-behind',
  },
  'peer-floor': { file: 'floor-peer.mjs', port: 6, label: 'Peer: Apollo 5 + Fastify, no I/O (floor)' },
  'peer-response-cache': {
    file: 'response-cache-peer.mjs',
    port: 7,
    label: 'Peer: Apollo 5 + Fastify + response cache (Redis)',
  },
  'peer-yoga-cache': {
    file: 'yoga-response-cache-peer.mjs',
    port: 3,
    label: 'Peer: GraphQL Yoga 5 + useResponseCache (Redis)',
  },
};

export const LABELS = {
  parley: 'Parley, Redis on (1 api + worker)',
  'parley-2api': 'Parley, Redis on (2 apis + worker)',
  'parley-cluster': 'Parley, Redis Cluster (1 api + 2 workers, 3 masters, 16 buffer shards)',
  rollback: 'Parley, rollback (REDIS_ENABLED=false)',
  ...Object.fromEntries(Object.entries(PEERS).map(([k, v]) => [k, v.label])),
};

const LOG_IN = 'mutation($e: String!, $p: String!) { logIn(email: $e, password: $p) { token } }';

/** A session token of `owner` that the Parley at `origin` accepts (with Redis on, sessions live in Redis). */
export const logInToken = async (origin, owner) =>
  (await gql(origin, LOG_IN, { e: owner.email, p: owner.password })).logIn.token;

/**
 * Targets on the ports from `basePort`: Parley's apis on +0 and +1 (its worker on +10), rollback
 * mode on +2, the peers on +3 to +7 (seeding takes +8 and +9). `start(name, dist, owner,
 * options)` starts one: `options.port` moves a Parley target's first api (two builds at once),
 * `options.env` adds to its environment (rate limits, …), `options.id` names its processes.
 */
export function createTargets(h, { basePort }) {
  let runNo = 0;

  async function startPeer(id, name, dist, owner, prefix) {
    const peer = PEERS[name];
    const port = basePort + peer.port;
    const peerEnv = {
      PORT: String(port),
      DATABASE_URL: h.dbUrl,
      REDIS_URL: h.redisUrl,
      REDIS_KEY_PREFIX: prefix,
      PARLEY_DIST: dist,
    };
    const peerFile = (file) => fileURLToPath(new URL(`../peers/${file}`, import.meta.url));
    const worker =
      peer.worker && h.start(`${id}-worker`, process.execPath, [peerFile(peer.worker)], peerEnv, `${id}-worker`);
    const api = h.start(id, process.execPath, [peerFile(peer.file)], peerEnv, id);
    const origin = `http://127.0.0.1:${port}`;
    await waitHttp(`${origin}/health`, api);
    return { origins: [origin], token: owner.postgresToken, redis: false, processes: [api, worker].filter(Boolean) };
  }

  async function startParley(id, name, dist, owner, prefix, { port, env: extraEnv = {} }) {
    const redis = name !== 'rollback';
    const cluster = name === 'parley-cluster';
    const apis = name === 'parley-2api' ? 2 : 1;
    const first = port ?? basePort + (redis ? 0 : 2);
    const ports = Array.from({ length: apis }, (_, i) => first + i);
    // On the cluster, the buffer in 16 shards: five or six on each of the 3 masters.
    const clusterEnv = { REDIS_CLUSTER_NODES: h.clusterNodes.join(','), BUFFER_SHARDS: '16' };
    const env = { ...(cluster ? clusterEnv : {}), ...extraEnv };
    const workers = Array.from({ length: redis ? (cluster ? 2 : 1) : 0 }, (_, i) =>
      h.start(
        `${id}-worker${cluster ? i : ''}`,
        process.execPath,
        [join(dist, 'worker/main.js')],
        { ...h.parleyEnv(first + 10 + i, prefix), ...env },
        `${id}-worker${cluster ? i : ''}`,
      ),
    );
    if (cluster) await h.clusterRedis();
    const apiProcesses = ports.map((p, i) =>
      h.start(
        `${id}-api${i}`,
        process.execPath,
        [join(dist, 'src/main.js')],
        { ...h.parleyEnv(p, redis ? prefix : undefined), ...env },
        `${id}-api${i}`,
      ),
    );
    const origins = ports.map((p) => `http://127.0.0.1:${p}`);
    for (const [i, origin] of origins.entries()) await waitHttp(`${origin}/health/db`, apiProcesses[i]);
    return {
      origins,
      token: redis ? await logInToken(origins[0], owner) : owner.postgresToken,
      redis,
      cluster,
      apis: apiProcesses,
      worker: workers[0] ?? null,
      processes: [...apiProcesses, ...workers],
    };
  }

  /** Starts a target afresh: its processes, its own Redis key prefix, a token it accepts. */
  async function start(name, dist, owner, options = {}) {
    const id = options.id ?? `${name}-${++runNo}`;
    const prefix = `${h.prefixStem}${id}:`;
    const started = PEERS[name]
      ? await startPeer(id, name, dist, owner, prefix)
      : await startParley(id, name, dist, owner, prefix, options);
    return { id, name, label: LABELS[name], prefix, ...started };
  }

  /**
   * Stops a target's processes and deletes its keys; the warnings of each process's log, by name.
   * `exited` runs in between: Redis' counters read there hold none of the clean-up's commands
   * (one UNLINK a key left behind).
   */
  async function stopTarget(target, { exited } = {}) {
    for (const child of target.processes) await stop(child);
    const logs = Object.fromEntries(target.processes.map((c) => [c.name, logSummary(c.logFile)]));
    await exited?.();
    if (target.prefix) await h.redisDeletePrefix(target.prefix);
    return logs;
  }

  return { start, stop: stopTarget };
}
