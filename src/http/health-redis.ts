import type { FastifyInstance } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import { isCluster, nodeAddress, type RedisClient } from '../platform/redis/connection';
import { assessDurability } from '../platform/redis/durability';
import { CACHE_LAYERS, type CacheCounts, type CacheLayer, type CacheStatsCollector } from '../cache/cache-stats';
import { KEY_FAMILIES, type KeyFamily } from '../platform/redis/keys';
import type { Logger } from '../core/logger';
import type { RateLimiter } from '../rate-limits/rate-limiter';

/** Each probe's limit: a health check that hangs on a stuck Redis tells an orchestrator nothing. */
const REDIS_CHECK_TIMEOUT_MILLIS = 1000;

export interface RedisHealth {
  status: 'ok' | 'unavailable';
  enabled: true;
  /** One Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES). */
  mode: 'single' | 'cluster';
  connected: boolean;
  /** ioredis' connection state: ready, connecting, reconnecting, end, … */
  connection: string;
  pingMillis: number | null;
  usedMemoryBytes: number | null;
  /** 0: no limit (Redis grows until the machine runs out of memory). */
  maxmemoryBytes: number | null;
  maxmemoryPolicy: string | null;
  aofEnabled: boolean | null;
  /** always, everysec or no: how much an OS crash or power loss can take of what AOF holds; null when CONFIG is refused. */
  appendfsync: string | null;
  connectedClients: number | null;
  error?: string;
  /** A cluster's own state (CLUSTER INFO) and the nodes its client sees. */
  cluster?: ClusterHealth;
  /** Each node's figures, masters first: a cluster's totals above are summed (memory, clients) or agreed (settings) over these. */
  nodes?: NodeHealth[];
}

interface ClusterHealth {
  /** ok, or fail: some slot has no master that answers. */
  state: string | null;
  slotsAssigned: number | null;
  slotsOk: number | null;
  knownNodes: number | null;
  masters: number;
  replicas: number;
}

export type NodeHealth = Omit<RedisHealth, 'mode' | 'enabled' | 'cluster' | 'nodes'> & {
  address: string;
  role: 'master' | 'replica';
};

const round = (millis: number) => Math.round(millis * 100) / 100;

/** `promise`, or a rejection once `timeoutMillis` pass without an answer (the promise itself runs on). */
export async function withTimeout<T>(promise: Promise<T>, timeoutMillis: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMillis} ms`)), timeoutMillis);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `name:value` lines of an INFO section. */
function infoField(info: string | undefined, name: string): string | undefined {
  if (info === undefined) return undefined;
  for (const line of info.split('\r\n')) {
    if (line.startsWith(`${name}:`)) return line.slice(name.length + 1);
  }
  return undefined;
}

const toInt = (value: string | undefined) => (value === undefined || !/^\d+$/.test(value) ? null : Number(value));

/**
 * Connection state, PING latency and the settings that decide what Redis does under
 * pressure; on a cluster, the cluster's state and each node's figures. Never throws: every
 * failure is a field, the detail goes to the log.
 */
export async function checkRedis(
  redis: RedisClient,
  log: Logger,
  timeoutMillis = REDIS_CHECK_TIMEOUT_MILLIS,
): Promise<RedisHealth> {
  if (isCluster(redis)) return checkCluster(redis, log, timeoutMillis);
  return { mode: 'single', enabled: true, ...(await checkNode(redis, log, timeoutMillis)) };
}

type ServerHealth = Omit<RedisHealth, 'mode' | 'enabled' | 'cluster' | 'nodes'>;

/** One server's figures, through `redis` (the one Redis, or a cluster node's connection). */
async function checkNode(redis: Redis | Cluster, log: Logger, timeoutMillis: number): Promise<ServerHealth> {
  const unavailable = (pingMillis: number | null): ServerHealth => ({
    status: 'unavailable',
    connected: false,
    connection: redis.status,
    pingMillis,
    usedMemoryBytes: null,
    maxmemoryBytes: null,
    maxmemoryPolicy: null,
    aofEnabled: null,
    appendfsync: null,
    connectedClients: null,
    // Host names and server messages are for operators, not for an unauthenticated caller.
    error: 'Redis did not answer; see the api log for the cause.',
  });
  // Commands fail at once while disconnected (no offline queue); no need to send one.
  if (redis.status !== 'ready') {
    log.warn({ connection: redis.status }, 'redis health check: not connected');
    return unavailable(null);
  }
  const started = performance.now();
  try {
    await withTimeout(redis.ping(), timeoutMillis);
  } catch (error: unknown) {
    log.error({ err: error }, 'redis health check failed');
    return unavailable(Math.round(performance.now() - started));
  }
  const pingMillis = round(performance.now() - started);

  const [memory, persistence, clients, config, fsync] = await Promise.allSettled([
    withTimeout(redis.info('memory'), timeoutMillis),
    withTimeout(redis.info('persistence'), timeoutMillis),
    withTimeout(redis.info('clients'), timeoutMillis),
    // Managed Redis services often disable CONFIG; INFO memory has the policy too.
    withTimeout(redis.config('GET', 'maxmemory-policy') as Promise<unknown>, timeoutMillis),
    // INFO has no fsync policy: only CONFIG tells it.
    withTimeout(redis.config('GET', 'appendfsync') as Promise<unknown>, timeoutMillis),
  ]);
  for (const [name, result] of Object.entries({ memory, persistence, clients })) {
    if (result.status === 'rejected') log.warn({ err: result.reason, section: name }, 'redis INFO failed');
  }
  const value = <T>(result: PromiseSettledResult<T>) => (result.status === 'fulfilled' ? result.value : undefined);
  const configValue = (result: PromiseSettledResult<unknown>) => {
    const pair = value(result);
    return Array.isArray(pair) && typeof pair[1] === 'string' ? pair[1] : undefined;
  };
  const policyFromConfig = configValue(config);
  if (config.status === 'rejected') log.debug({ err: config.reason }, 'CONFIG GET refused; using INFO memory');
  const aof = infoField(value(persistence), 'aof_enabled');

  return {
    status: 'ok',
    connected: true,
    connection: redis.status,
    pingMillis,
    usedMemoryBytes: toInt(infoField(value(memory), 'used_memory')),
    maxmemoryBytes: toInt(infoField(value(memory), 'maxmemory')),
    maxmemoryPolicy: policyFromConfig ?? infoField(value(memory), 'maxmemory_policy') ?? null,
    aofEnabled: aof === undefined ? null : aof === '1',
    appendfsync: configValue(fsync) ?? null,
    connectedClients: toInt(infoField(value(clients), 'connected_clients')),
  };
}

/** The weakest of the nodes' values by `order` (a setting that differs puts every node at its weakest's risk). */
function weakest(values: (string | null)[], order: string[]): string | null {
  if (values.some((value) => value === null)) return null;
  return values.reduce<string | null>((worst, value) => {
    if (worst === null) return value;
    return order.indexOf(value!) < order.indexOf(worst) ? value : worst;
  }, null);
}

/**
 * A cluster: CLUSTER INFO, then every node the client knows (masters and replicas), each
 * checked as one Redis. Connected when the cluster's state is ok and every master answers;
 * memory and clients are summed, the settings are the weakest any node has.
 */
async function checkCluster(cluster: Cluster, log: Logger, timeoutMillis: number): Promise<RedisHealth> {
  const masters = cluster.nodes('master');
  const replicas = cluster.nodes('slave');
  const [info, ...checked] = await Promise.all([
    withTimeout(cluster.cluster('INFO') as Promise<string>, timeoutMillis).catch((error: unknown) => {
      log.warn({ err: error }, 'CLUSTER INFO failed');
      return undefined;
    }),
    ...[...masters, ...replicas].map(async (node) => {
      // The client opens a replica's connection only when it reads there: open it to ask.
      if (node.status === 'wait') await withTimeout(node.connect(), timeoutMillis).catch(() => undefined);
      return checkNode(node, log, timeoutMillis);
    }),
  ]);
  const nodes: NodeHealth[] = checked.map((health, i) => ({
    address: nodeAddress(i < masters.length ? masters[i]! : replicas[i - masters.length]!),
    role: i < masters.length ? 'master' : 'replica',
    ...health,
  }));
  const state = infoField(info, 'cluster_state') ?? null;
  const masterHealth = nodes.filter((node) => node.role === 'master');
  const connected =
    cluster.status === 'ready' && state === 'ok' && masterHealth.length > 0 && masterHealth.every((n) => n.connected);
  const answering = nodes.filter((node) => node.connected);
  const sum = (pick: (node: NodeHealth) => number | null) =>
    answering.length === 0 ? null : answering.reduce((total, node) => total + (pick(node) ?? 0), 0);
  const policies = answering.map((node) => node.maxmemoryPolicy);
  return {
    status: connected ? 'ok' : 'unavailable',
    enabled: true,
    mode: 'cluster',
    connected,
    connection: cluster.status,
    pingMillis: answering.length ? Math.max(...answering.map((node) => node.pingMillis ?? 0)) : null,
    usedMemoryBytes: sum((node) => node.usedMemoryBytes),
    // The smallest limit is the first to be reached (0: a node without a limit).
    maxmemoryBytes: answering.length ? Math.min(...answering.map((node) => node.maxmemoryBytes ?? 0)) : null,
    maxmemoryPolicy: policies.length && policies.every((policy) => policy === policies[0]) ? policies[0]! : null,
    aofEnabled: answering.length ? answering.every((node) => node.aofEnabled === true) : null,
    appendfsync: weakest(
      answering.map((node) => node.appendfsync),
      ['no', 'everysec', 'always'],
    ),
    connectedClients: sum((node) => node.connectedClients),
    ...(connected ? {} : { error: 'Redis did not answer; see the api log for the cause.' }),
    cluster: {
      state,
      slotsAssigned: toInt(infoField(info, 'cluster_slots_assigned')),
      slotsOk: toInt(infoField(info, 'cluster_slots_ok')),
      knownNodes: toInt(infoField(info, 'cluster_known_nodes')),
      masters: masters.length,
      replicas: replicas.length,
    },
    nodes,
  };
}

/** What the durable Redis (REDIS_URL) holds: what losing would lose messages or let people in. */
const DURABLE_HOLDS = ['write buffer', 'sessions', 'rate-limit counters', 'message status events'];
/** What the cache's Redis holds (REDIS_CACHE_URL, or the durable one): all of it rebuilt from PostgreSQL. */
const CACHE_HOLDS = ['cached entities', 'search results', 'cache invalidations', 'cache hit counts'];

/** The server's run id (INFO server), to tell two connections to one server; undefined when it will not say. */
async function runIdOf(redis: RedisClient, timeoutMillis: number): Promise<string | undefined> {
  try {
    return infoField(await withTimeout(redis.info('server'), timeoutMillis), 'run_id');
  } catch {
    return undefined;
  }
}

/**
 * What an operator should change, one sentence each: what puts the write buffer at risk
 * (src/platform/redis/durability.ts), a cache that shares the durable Redis, and a cache Redis
 * that cannot evict or evicts what it has just written. Pure.
 */
export function redisWarnings(report: { durable: RedisHealth; cache?: RedisHealth; shared: boolean }): string[] {
  const { durable, cache, shared } = report;
  const warnings: string[] = [];
  const durabilityOf = (server: ServerHealth) =>
    assessDurability({
      maxmemoryPolicy: server.maxmemoryPolicy,
      appendonly: server.aofEnabled === null ? null : server.aofEnabled ? 'yes' : 'no',
      appendfsync: server.appendfsync,
    })
      .filter((finding) => finding.level === 'warn')
      .map((finding) => finding.message);
  if (durable.cluster) {
    const { cluster } = durable;
    if (cluster.state !== 'ok') {
      warnings.push(`The cluster's state is ${cluster.state ?? 'unknown'}: sends and reads on its failed slots fail.`);
    }
    if (cluster.replicas < cluster.masters) {
      warnings.push(
        `${cluster.masters} masters and ${cluster.replicas} replicas: a master without a replica cannot fail over, ` +
          'and its part of the write buffer waits for it to come back.',
      );
    }
    // Each node holds its own part of the buffer: what puts any of it at risk, node by node.
    for (const node of durable.nodes ?? []) {
      if (!node.connected) warnings.push(`Node ${node.address} (${node.role}) does not answer.`);
      else for (const message of durabilityOf(node)) warnings.push(`Node ${node.address}: ${message}`);
    }
  } else if (durable.connected) {
    warnings.push(...durabilityOf(durable));
  }
  if (shared) {
    warnings.push(
      `The cache shares the durable Redis (${durable.maxmemoryPolicy ?? 'maxmemory-policy unknown'}): cached entities ` +
        'and search results take memory the write buffer and sessions need. Set REDIS_CACHE_URL to a Redis with ' +
        'maxmemory and maxmemory-policy allkeys-lru.',
    );
    return warnings;
  }
  if (!cache?.connected) {
    warnings.push("The cache's Redis (REDIS_CACHE_URL) does not answer: reads and searches go to PostgreSQL.");
    return warnings;
  }
  if (cache.maxmemoryBytes === 0) {
    warnings.push(
      "The cache's Redis has no maxmemory: the cache grows until the machine runs out of memory. Set maxmemory, " +
        'with maxmemory-policy allkeys-lru.',
    );
  }
  const policy = cache.maxmemoryPolicy;
  if (policy === 'noeviction') {
    warnings.push(
      "The cache's Redis runs maxmemory-policy noeviction: once full it refuses cache writes, and reads go to " +
        'PostgreSQL. Set allkeys-lru.',
    );
  } else if (policy !== null && /random|lfu/.test(policy)) {
    // See createEntityCache: a generation key just moved on must be the last key evicted.
    warnings.push(
      `The cache's Redis runs maxmemory-policy ${policy}, which may evict keys just written, such as the ` +
        'generation key of an entity just changed: a stale copy could then be cached again for its TTL. Set allkeys-lru.',
    );
  }
  return warnings;
}

interface LayerFigures {
  hits: number;
  misses: number;
  /** hits / (hits + misses), null before the first read. */
  hitRate: number | null;
}

function figures(hits: number, misses: number): LayerFigures {
  const reads = hits + misses;
  return { hits, misses, hitRate: reads === 0 ? null : Math.round((hits / reads) * 10_000) / 10_000 };
}

/** Per family and in total, for each layer, with hit rates. */
function cacheReport(counts: CacheCounts) {
  const total = { l1: { hits: 0, misses: 0 }, redis: { hits: 0, misses: 0 } };
  const families = {} as Record<KeyFamily, Record<CacheLayer, LayerFigures>>;
  for (const family of KEY_FAMILIES) {
    const row = {} as Record<CacheLayer, LayerFigures>;
    for (const layer of CACHE_LAYERS) {
      const { hits, misses } = counts[family][layer];
      total[layer].hits += hits;
      total[layer].misses += misses;
      row[layer] = figures(hits, misses);
    }
    families[family] = row;
  }
  return {
    total: { l1: figures(total.l1.hits, total.l1.misses), redis: figures(total.redis.hits, total.redis.misses) },
    families,
  };
}

/**
 * `/health/redis` and `/health/cache` (hit rates summed across instances). Never rate limited.
 *
 * `/health/redis`: the durable Redis' figures at the top level (200 when connected, 503 when
 * not, `{ enabled: false }` in rollback mode) with what it `holds`; `cache`: whether the cache
 * shares it, what the cache holds, and the cache Redis' own figures when it has one (its
 * outage is no 503: reads go to PostgreSQL); `warnings`: what an operator should change.
 */
export function registerRedisHealthRoutes(
  fastify: FastifyInstance,
  deps: {
    /** The durable Redis (`Clients.redis`). */
    redis?: RedisClient;
    /** The cache's (`Clients.cacheRedis`); the same as `redis`, or absent, when it shares it. */
    cacheRedis?: RedisClient;
    rateLimiter: Pick<RateLimiter, 'mode'>;
    cacheStats: CacheStatsCollector;
    log: Logger;
  },
): void {
  fastify.get('/health/redis', async (_request, reply) => {
    // Where the shared rate-limit counters are: in Redis, or in this instance's memory (rollback
    // mode, or Redis unreachable), where each instance counts only its own requests.
    const rateLimits = deps.rateLimiter.mode();
    if (!deps.redis) return { enabled: false, rateLimits };
    const separate = deps.cacheRedis !== undefined && deps.cacheRedis !== deps.redis;
    const [durable, cache, durableRunId, cacheRunId] = await Promise.all([
      checkRedis(deps.redis, deps.log),
      separate ? checkRedis(deps.cacheRedis!, deps.log) : undefined,
      separate ? runIdOf(deps.redis, REDIS_CHECK_TIMEOUT_MILLIS) : undefined,
      separate ? runIdOf(deps.cacheRedis!, REDIS_CHECK_TIMEOUT_MILLIS) : undefined,
    ]);
    // REDIS_CACHE_URL may name the durable server itself (another database number shares its memory).
    const shared = !separate || (durableRunId !== undefined && durableRunId === cacheRunId);
    reply.code(durable.connected ? 200 : 503);
    return {
      ...durable,
      holds: shared ? [...DURABLE_HOLDS, ...CACHE_HOLDS] : DURABLE_HOLDS,
      cache:
        shared || !cache
          ? {
              shared: true,
              holds: CACHE_HOLDS,
              maxmemoryPolicy: durable.maxmemoryPolicy,
              maxmemoryBytes: durable.maxmemoryBytes,
            }
          : { shared: false, holds: CACHE_HOLDS, ...cache },
      warnings: redisWarnings({ durable, cache, shared }),
      rateLimits,
    };
  });

  fastify.get('/health/cache', async () => {
    const totals = await deps.cacheStats.readTotals();
    return {
      enabled: deps.redis !== undefined,
      scope: totals.scope,
      ...(totals.warning ? { warning: totals.warning } : {}),
      ...cacheReport(totals.counts),
    };
  });
}
