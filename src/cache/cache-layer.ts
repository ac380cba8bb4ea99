import type { RedisClient } from '../platform/redis/connection';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import type { CacheStats } from './cache-stats';
import { createEntityCache, createRemoteInvalidator, type EntityCache } from './entity-cache';
import { createCacheInvalidation, noCacheInvalidation, type CacheInvalidation } from './invalidation';
import type { CacheKeys } from '../platform/redis/keys';
import { createVectorCache, type VectorCache } from './vector-cache';

export interface CacheLayer {
  keys: CacheKeys;
  /** What the loaders read through; only with a subscriber (the api), since its L1 must hear invalidations. */
  entities?: EntityCache;
  vectors?: VectorCache;
  /** Told of every committed change; does nothing in rollback mode. */
  invalidation: CacheInvalidation;
  /** Starts listening for invalidations; after the clients are ready. */
  start(): Promise<void>;
  /** Stops retries and listening, letting cache writes in flight land; before the clients close. */
  stop(): Promise<void>;
}

/**
 * The Redis read layer as the api and the worker both wire it: the api (with a subscriber)
 * reads entities through an L1 and invalidates it everywhere; the worker only invalidates
 * what its changes touch. Without Redis (rollback mode) there is nothing to cache or tell.
 *
 * Everything here lives in the cache's Redis (`Clients.cacheRedis`: REDIS_CACHE_URL, or the
 * one Redis), invalidation messages included: they keep the L1s coherent with that cache, and
 * the L1 is emptied whenever the subscriber's connection to it drops.
 */
export function createCacheLayer(deps: {
  config: Config;
  log: Logger;
  /** The deployment's keys (one builder per process, made by the runtime). */
  keys: CacheKeys;
  /** The cache's Redis (`Clients.cacheRedis`). */
  redis?: RedisClient;
  /** A subscriber on that same Redis (`Clients.cacheSubscriber`). */
  subscriber?: RedisClient;
  stats: CacheStats;
}): CacheLayer {
  const { config, log, keys, redis, subscriber, stats } = deps;
  if (!redis) {
    return { keys, invalidation: noCacheInvalidation, start: async () => undefined, stop: async () => undefined };
  }
  const cacheLog = log.child({ component: 'cache' });
  const vectors = createVectorCache({
    redis,
    keys,
    ttlSeconds: config.vectorCache.ttlSeconds,
    maxLimit: config.vectorCache.maxLimit,
    botBudgetBytes: config.vectorCache.botBudgetBytes,
    stats,
    log: log.child({ component: 'vector-cache' }),
  });
  const entities = subscriber
    ? createEntityCache({
        redis,
        subscriber,
        keys,
        stats,
        log: cacheLog,
        ttlSeconds: config.redis.ttlSeconds,
        l1: config.redis.l1,
      })
    : undefined;
  const remote = entities ? undefined : createRemoteInvalidator({ redis, keys, log: cacheLog });
  return {
    keys,
    entities,
    vectors,
    invalidation: createCacheInvalidation({
      keys,
      invalidate: (dropped) => (entities ? entities.invalidate(dropped) : remote!.invalidate(dropped)),
      bumpVectorVersion: vectors.bumpVersion,
    }),
    start: async () => entities?.start(),
    async stop() {
      vectors.stop();
      remote?.stop();
      await entities?.stop();
    },
  };
}
