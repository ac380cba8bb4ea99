import type { RedisClient } from './redis/connection';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import { connectPostgres, createDb, type Db } from './postgres/connection';
import { cacheRedisSettings, closeRedis, connectRedis, createRedis } from './redis/connection';
import { loadScripts } from './redis/scripts';

/**
 * The long-lived connections of a process, built once at start-up and passed down.
 *
 * Redis state is of two kinds, and may live in two Redis servers. Durable (`redis`,
 * REDIS_URL): the write buffer, sessions, rate-limit counters and message status events;
 * losing them loses messages or lets people in, so that Redis runs `noeviction` with AOF.
 * Disposable (`cacheRedis`, REDIS_CACHE_URL): cached entities and search results, their
 * invalidations and the hit counts; all of it may be rebuilt from PostgreSQL, so that Redis
 * may evict (`maxmemory` with `allkeys-lru`). Without REDIS_CACHE_URL both are the same
 * connections, to the one Redis.
 */
export interface Clients {
  db: Db;
  /** Commands on the durable Redis; absent in rollback mode (`REDIS_ENABLED=false`). */
  redis?: RedisClient;
  /** Subscriptions on the durable Redis (message status events): a subscribed connection can run nothing else. */
  redisSubscriber?: RedisClient;
  /** Commands on the cache's Redis: the same object as `redis` unless REDIS_CACHE_URL is set. */
  cacheRedis?: RedisClient;
  /** Cache invalidations (the L1's coherence): the same object as `redisSubscriber` unless REDIS_CACHE_URL is set. */
  cacheSubscriber?: RedisClient;
  /** Connects what connects lazily and checks it answers; start-up fails with a readable error otherwise. */
  ready(): Promise<void>;
  /** Closes every client, each step even if an earlier one fails; rejects with the first failure. */
  close(): Promise<void>;
}

/**
 * One place builds the clients for the api, the worker and the tests.
 * @param options.subscriber whether the process listens on pub/sub (the api's L1 does; the worker only publishes). Default true.
 */
export function createClients(config: Config, log: Logger, options: { subscriber?: boolean } = {}): Clients {
  const db = createDb(config.database, log);
  const subscribes = config.redis.enabled && (options.subscriber ?? true);
  const redis = config.redis.enabled ? createRedis(config.redis, log) : undefined;
  const redisSubscriber = subscribes ? createRedis(config.redis, log, 'subscriber') : undefined;
  const cacheSettings = config.redis.enabled ? cacheRedisSettings(config.redis) : undefined;
  const cacheRedis = cacheSettings ? createRedis(cacheSettings, log, 'cache') : redis;
  const cacheSubscriber =
    cacheSettings && subscribes ? createRedis(cacheSettings, log, 'cache-subscriber') : redisSubscriber;
  /** Each connection once, with the settings it was made from. */
  const connections = new Map<RedisClient, Config['redis']>();
  for (const [connection, settings] of [
    [redis, config.redis],
    [redisSubscriber, config.redis],
    [cacheRedis, cacheSettings],
    [cacheSubscriber, cacheSettings],
  ] as const) {
    if (connection && !connections.has(connection)) connections.set(connection, settings ?? config.redis);
  }
  return {
    db,
    redis,
    redisSubscriber,
    cacheRedis,
    cacheSubscriber,
    async ready() {
      await connectPostgres(db, config.database.url);
      // A cache Redis that does not answer fails start-up too: a wrong REDIS_CACHE_URL is found
      // at deploy time. Once running, a cache outage only sends reads to PostgreSQL.
      for (const [connection, settings] of connections) await connectRedis(connection, settings);
      for (const connection of new Set([redis, cacheRedis])) if (connection) await loadScripts(connection);
    },
    async close() {
      const results = await Promise.allSettled([db.destroy(), ...[...connections.keys()].map(closeRedis)]);
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
