import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { CACHE_LAYERS, type CacheCounts, type CacheLayer, type CacheStatsCollector } from '../cache/cache-stats';
import { KEY_FAMILIES, type KeyFamily } from '../cache/keys';
import type { Logger } from '../logger';
import type { RateLimiter } from '../rate-limits/rate-limiter';

/** Each probe's limit: a health check that hangs on a stuck Redis tells an orchestrator nothing. */
const REDIS_CHECK_TIMEOUT_MILLIS = 1000;

export interface RedisHealth {
  status: 'ok' | 'unavailable';
  enabled: true;
  connected: boolean;
  /** ioredis' connection state: ready, connecting, reconnecting, end, … */
  connection: string;
  pingMillis: number | null;
  usedMemoryBytes: number | null;
  maxmemoryPolicy: string | null;
  aofEnabled: boolean | null;
  /** always, everysec or no: how much an OS crash or power loss can take of what AOF holds; null when CONFIG is refused. */
  appendfsync: string | null;
  connectedClients: number | null;
  error?: string;
}

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
 * pressure. Never throws: every failure is a field, the detail goes to the log.
 */
export async function checkRedis(
  redis: Redis,
  log: Logger,
  timeoutMillis = REDIS_CHECK_TIMEOUT_MILLIS,
): Promise<RedisHealth> {
  const unavailable = (pingMillis: number | null): RedisHealth => ({
    status: 'unavailable',
    enabled: true,
    connected: false,
    connection: redis.status,
    pingMillis,
    usedMemoryBytes: null,
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
    enabled: true,
    connected: true,
    connection: redis.status,
    pingMillis,
    usedMemoryBytes: toInt(infoField(value(memory), 'used_memory')),
    maxmemoryPolicy: policyFromConfig ?? infoField(value(memory), 'maxmemory_policy') ?? null,
    aofEnabled: aof === undefined ? null : aof === '1',
    appendfsync: configValue(fsync) ?? null,
    connectedClients: toInt(infoField(value(clients), 'connected_clients')),
  };
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
export function cacheReport(counts: CacheCounts) {
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
 * `/health/redis` (200 when connected, 503 when not, `{ enabled: false }` in rollback mode)
 * and `/health/cache` (hit rates summed across instances). Never rate limited.
 */
export function registerRedisHealthRoutes(
  fastify: FastifyInstance,
  deps: { redis?: Redis; rateLimiter: Pick<RateLimiter, 'mode'>; cacheStats: CacheStatsCollector; log: Logger },
): void {
  fastify.get('/health/redis', async (_request, reply) => {
    // Where the shared rate-limit counters are: in Redis, or in this instance's memory (rollback
    // mode, or Redis unreachable), where each instance counts only its own requests.
    const rateLimits = deps.rateLimiter.mode();
    if (!deps.redis) return { enabled: false, rateLimits };
    const health = await checkRedis(deps.redis, deps.log);
    reply.code(health.connected ? 200 : 503);
    return { ...health, rateLimits };
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
