import { randomUUID } from 'node:crypto';
import { isCluster, type RedisClient } from '../platform/redis/connection';
import type { Logger } from '../core/logger';
import type { CacheStats } from './cache-stats';
import { fromCacheJson, toCacheJson } from '../platform/redis/json';
import type { CacheKeys, KeyFamily } from '../platform/redis/keys';
import { createL1, type L1Options } from './l1';
import { defineCacheScripts } from './scripts';
import { createThrottledWarn } from '../core/throttled-warn';

/** A generation key outlives any database read that could race with it by far. */
const GENERATION_TTL_SECONDS = 24 * 60 * 60;
/** Invalidations that failed (Redis down) are retried this often until they succeed. */
const INVALIDATION_RETRY_MILLIS = 1_000;
/** Warnings about a failing Redis are logged at most this often. */
const WARN_EVERY_MILLIS = 60_000;

export interface EntitySpec<V> {
  family: KeyFamily;
  /** The cache key of an id (from CacheKeys). */
  key(id: string): string;
  /** The ids' values from PostgreSQL, in one query; ids without a row are absent from the map. */
  load(ids: readonly string[]): Promise<Map<string, V>>;
}

/** Told of dropped keys, or 'all' when invalidations may have been missed. */
export type InvalidationWatcher = (dropped: readonly string[] | 'all') => void;

export interface EntityCacheOptions {
  /** The cache's Redis (REDIS_CACHE_URL, or the one Redis). */
  redis: RedisClient;
  /** A connection of its own to the same Redis: a subscribed connection can run nothing else. */
  subscriber: RedisClient;
  keys: CacheKeys;
  stats: CacheStats;
  log: Logger;
  ttlSeconds: number;
  l1: L1Options;
}

export type EntityCache = ReturnType<typeof createEntityCache>;

/**
 * Cache-aside for entities, used inside DataLoader batch functions: an in-process L1 (an
 * LRU bounded in entries and bytes, with a TTL of a few seconds), then one MGET to Redis, then
 * one query to PostgreSQL for what is still missing, written back with a TTL in one round of
 * pipelined scripts.
 *
 * "Not found" is cached in the L1 only, never in Redis. Ids are checked to be UUIDs before
 * they get here, but a client can still ask for any number of random ones, and each would be
 * a Redis key for its TTL (20,000 in 7.6 s from one client): a cache without a budget. Random
 * ids never repeat, so such keys would absorb nothing; the one missing id asked for again and
 * again (a deleted bot's widget) is absorbed by every instance's L1, and past it costs one
 * primary-key lookup.
 *
 * Never stale after an invalidation:
 * - a value loaded from PostgreSQL is written back only if the key's generation is still
 *   the one read before the query (`set-if-generation`), and `invalidate` moves it on;
 * - concurrent misses of one key share one query (single-flight), and an invalidation here
 *   drops that shared load, so a request that starts after a commit never joins a read
 *   made before it;
 * - every instance's L1 hears invalidations on Redis pub/sub; while that connection is
 *   down the L1 is emptied and bypassed, since messages may be missed.
 * A Redis failure never fails a read: it falls through to PostgreSQL.
 *
 * In a cache Redis that evicts (`allkeys-lru`, see clients.ts), a generation key could be
 * evicted between an invalidation and a racing write-back that had read no generation; the
 * write-back would then land. LRU evicts the keys idle longest, and a generation key written
 * by the invalidation is the newest there is: it goes first only in a Redis so undersized
 * that it evicts what it wrote within the same second, and then the value lives at most its
 * TTL. Random or LFU eviction gives no such assurance: `/health/redis` warns of them.
 */
export function createEntityCache(options: EntityCacheOptions) {
  const { redis, subscriber, keys, stats, log, ttlSeconds } = options;
  const scripts = defineCacheScripts(redis);
  const channel = invalidationChannel(keys);
  const instanceId = randomUUID();
  const l1 = createL1(options.l1);
  const inFlight = new Map<string, Promise<unknown>>();
  /** Moves on with every invalidation heard here: a load that saw it move does not fill the L1. */
  let epoch = 0;
  /** Whether invalidations reach this instance: the subscription stands. */
  let listening = false;
  let l1Usable = false;
  const warn = createThrottledWarn(log, WARN_EVERY_MILLIS);
  /** Other in-process caches that follow the same invalidations (`watch`). */
  const watchers: InvalidationWatcher[] = [];

  /** Drops keys from the L1 and from the loads this instance shares, and keeps loads under way out of the L1. */
  const forget = (dropped: string[]) => {
    for (const key of dropped) {
      l1.delete(key);
      inFlight.delete(key);
    }
    epoch++;
    for (const watcher of watchers) watcher(dropped);
  };

  const disableL1 = () => {
    listening = false;
    l1Usable = false;
    l1.clear();
    epoch++;
    for (const watcher of watchers) watcher('all');
  };

  const remote = createRemoteInvalidator({
    redis,
    keys,
    log,
    origin: instanceId,
    // A retried invalidation landed late: what this instance read meanwhile (Redis still held the old value) goes too.
    onDropped: forget,
  });

  subscriber.on('message', (from: string, message: string) => {
    // Without a cache Redis of its own, this connection also carries message status events.
    if (from !== channel) return;
    try {
      const { origin, keys: invalidated } = JSON.parse(message) as { origin: string; keys: string[] };
      if (origin === instanceId) return;
      forget(invalidated);
    } catch (error: unknown) {
      warn(error, 'unreadable cache invalidation message');
    }
  });
  subscriber.on('close', disableL1);
  /** The subscription under way, shared by the connection's 'ready' and `start`, so it is asked for once. */
  let subscribing: Promise<void> | undefined;
  const subscribe = (): Promise<void> =>
    (subscribing ??= subscriber
      .subscribe(channel)
      .then(() => {
        // A read that began before the subscription stood may have missed an invalidation
        // meanwhile: moving the epoch on keeps what it loaded out of the L1.
        epoch++;
        listening = true;
        l1Usable = l1.enabled;
      })
      .finally(() => {
        subscribing = undefined;
      }));
  subscriber.on('ready', () => {
    subscribe().catch((error: unknown) => warn(error, 'could not subscribe to cache invalidations'));
  });

  async function fromRedis(
    keysToRead: string[],
  ): Promise<{ values: (string | null)[]; generations: string[] } | undefined> {
    try {
      if (isCluster(redis)) {
        // A cluster answers MGET only within one slot: a value and its generation share their
        // hash tag, so one MGET an entity, batched per node by the client's auto-pipelining.
        const pairs = await Promise.all(keysToRead.map((key) => redis.mget(key, keys.generation(key))));
        return { values: pairs.map(([value]) => value ?? null), generations: pairs.map(([, gen]) => gen ?? '') };
      }
      const replies = await redis.mget(...keysToRead, ...keysToRead.map(keys.generation));
      return {
        values: replies.slice(0, keysToRead.length),
        generations: replies.slice(keysToRead.length).map((generation) => generation ?? ''),
      };
    } catch (error: unknown) {
      warn(error, 'cache read failed; reading from PostgreSQL');
      return undefined;
    }
  }

  /** Write-backs not yet answered, so that `stop` can let them land before the connection closes. */
  const pendingWrites = new Set<Promise<unknown>>();

  /** Keeps `writing` among the pending writes until it settles; it must never reject. */
  function track(writing: Promise<unknown>): Promise<unknown> {
    pendingWrites.add(writing);
    void writing.then(() => pendingWrites.delete(writing));
    return writing;
  }

  /** Resolves when every write has settled (failures are logged, never thrown). */
  function writeBack(entries: { key: string; generation: string; json: string }[]): Promise<unknown> {
    return track(
      Promise.all(
        entries.map(({ key, generation, json }) =>
          scripts
            .setIfGeneration(key, keys.generation(key), generation, json, ttlSeconds)
            .catch((error: unknown) => warn(error, 'cache write-back failed')),
        ),
      ),
    );
  }

  function batch<V>(spec: EntitySpec<V>): (ids: readonly string[]) => Promise<(V | null)[]> {
    return async (ids) => {
      const results = new Map<string, V | null>();
      const cacheKeys = new Map(ids.map((id) => [id, spec.key(id)]));
      // Keys whose invalidation Redis has not taken yet: Redis (and so the L1) may hold the old value.
      const pendingIds = new Set(ids.filter((id) => remote.isPending(cacheKeys.get(id)!)));

      // L1, only while invalidations can reach it.
      let l1Hits = 0;
      if (l1Usable) {
        for (const [id, key] of cacheKeys) {
          if (pendingIds.has(id)) continue;
          const entry = l1.get(key);
          if (entry) {
            results.set(id, entry.value as V | null);
            l1Hits++;
          }
        }
        stats.record(spec.family, 'l1', l1Hits, ids.length - l1Hits);
      }

      // Redis: one MGET for the values and their generations.
      const startEpoch = epoch;
      const afterL1 = ids.filter((id) => !results.has(id) && !pendingIds.has(id));
      const generations = new Map<string, string>();
      if (afterL1.length > 0) {
        const read = await fromRedis(afterL1.map((id) => cacheKeys.get(id)!));
        let hits = 0;
        afterL1.forEach((id, i) => {
          const text = read?.values[i];
          if (read) generations.set(id, read.generations[i] ?? '');
          if (text === null || text === undefined) return;
          const value = fromCacheJson<V | null>(text);
          results.set(id, value);
          hits++;
          if (l1Usable && epoch === startEpoch) l1.set(cacheKeys.get(id)!, value, text);
        });
        stats.record(spec.family, 'redis', hits, afterL1.length - hits);
      }

      // PostgreSQL: one query for the misses nobody on this instance is loading already.
      const misses = ids.filter((id) => !results.has(id));
      // Misses another request of this instance is loading already: join those loads.
      const joined = misses.flatMap((id) => {
        const shared = inFlight.get(cacheKeys.get(id)!);
        return shared ? [{ id, shared }] : [];
      });
      const toLoad = misses.filter((id) => !inFlight.has(cacheKeys.get(id)!));
      if (toLoad.length > 0) {
        const loading = spec.load(toLoad);
        // Shared until the values are in Redis too, so a miss that was waiting on its MGET
        // meanwhile joins this load instead of starting another. Only this load's own entries
        // are removed: an invalidation may have dropped or replaced them.
        let settle!: () => void;
        const settled = new Promise<void>((resolve) => (settle = resolve));
        for (const id of toLoad) {
          const key = cacheKeys.get(id)!;
          const one = loading.then((rows) => rows.get(id) ?? null);
          one.catch(() => undefined);
          inFlight.set(key, one);
          void settled.then(() => {
            if (inFlight.get(key) === one) inFlight.delete(key);
          });
        }
        let rows: Map<string, V>;
        try {
          rows = await loading;
        } catch (error: unknown) {
          settle();
          throw error;
        }
        const entries: { key: string; generation: string; json: string }[] = [];
        for (const id of toLoad) {
          const value = rows.get(id) ?? null;
          const key = cacheKeys.get(id)!;
          results.set(id, value);
          const json = toCacheJson(value);
          const generation = generations.get(id);
          // "Not found" stays out of Redis: see the comment on createEntityCache.
          if (generation !== undefined && value !== null) entries.push({ key, generation, json });
          if (l1Usable && epoch === startEpoch && !pendingIds.has(id)) l1.set(key, value, json);
        }
        void writeBack(entries).then(settle);
      }
      for (const { id, shared } of joined) results.set(id, (await shared) as V | null);
      return ids.map((id) => results.get(id) ?? null);
    };
  }

  return {
    batch,

    /**
     * Caches a value just created under an id minted for it, as a load from PostgreSQL would (L1
     * and Redis), so that the reads after it need no query: a conversation, the moment its first
     * exchange is buffered, is otherwise read from PostgreSQL once it has been flushed. Nothing
     * can have invalidated an id nobody knew, so no generation is checked: one SET. Never rejects.
     */
    prime(key: string, value: unknown): Promise<unknown> {
      const json = toCacheJson(value);
      if (l1Usable) l1.set(key, value, json);
      return track(
        redis.set(key, json, 'EX', ttlSeconds).catch((error: unknown) => warn(error, 'cache write-back failed')),
      );
    },

    /** Drops the keys here and tells every other instance, without touching Redis' values (see `announce` below). */
    async announce(keysToTell: string[]): Promise<void> {
      forget(keysToTell);
      await remote.announce(keysToTell);
    },

    /** Whether invalidations reach this instance now; while not, nothing in process may be trusted. */
    listening: (): boolean => listening,

    /**
     * Calls `watcher` with every key this instance drops (its own invalidations and every other
     * instance's), and with 'all' when the subscription is lost and messages may be missed.
     */
    watch(watcher: InvalidationWatcher): void {
      watchers.push(watcher);
    },

    /**
     * After a commit: drops the keys from Redis (moving their generations on), from this
     * instance's L1 and shared loads, and from every other instance's L1. An invalidation
     * Redis cannot take now is retried every second until it can.
     */
    async invalidate(keysToDrop: string[]): Promise<void> {
      if (keysToDrop.length === 0) return;
      forget(keysToDrop);
      await remote.invalidate(keysToDrop);
    },

    /** Starts listening for invalidations; the L1 is used from the moment the subscription stands. */
    async start(): Promise<void> {
      if (subscriber.status === 'wait') await subscriber.connect();
      if (!l1Usable) await subscribe();
    },

    /** Stops listening and retrying; resolves once the write-backs in flight have landed. */
    async stop(): Promise<void> {
      remote.stop();
      disableL1();
      await Promise.allSettled([...pendingWrites]);
    },
  };
}

/** The Redis channel on which instances tell each other which keys to drop from their L1. */
export const invalidationChannel = (keys: CacheKeys) => `${keys.prefix}invalidations`;

/**
 * Invalidation without an L1 of its own, as the worker needs it: drops the keys in Redis
 * (moving their generations on) and tells every api instance to drop them from its L1. What
 * Redis cannot take now is retried every second until it can: the commit has happened, and
 * the cached value must not outlive it by its whole TTL.
 */
export function createRemoteInvalidator(options: {
  redis: RedisClient;
  keys: CacheKeys;
  log: Logger;
  origin?: string;
  /** Called with the keys a retry has dropped in Redis at last. */
  onDropped?: (keys: string[]) => void;
}) {
  const { redis, keys, log } = options;
  const scripts = defineCacheScripts(redis);
  const origin = options.origin ?? randomUUID();
  const pending = new Set<string>();
  const throttledWarn = createThrottledWarn(log, WARN_EVERY_MILLIS);
  const warn = (error: unknown, message: string) => throttledWarn(error, message, { pending: pending.size });
  const dropInRedis = (key: string) => scripts.invalidate(key, keys.generation(key), GENERATION_TTL_SECONDS);

  /** Keys whose message to the other instances could not be published yet: sent again with the retries. */
  const unpublished = new Set<string>();
  const publish = async (keysToDrop: string[]): Promise<void> => {
    try {
      await redis.publish(invalidationChannel(keys), JSON.stringify({ origin, keys: keysToDrop }));
    } catch (error: unknown) {
      for (const key of keysToDrop) unpublished.add(key);
      warn(error, 'could not publish a cache invalidation; retrying every second');
    }
  };

  let retrying: Promise<void> | undefined;
  const retryPending = () => {
    if (pending.size === 0 && unpublished.size === 0) return;
    retrying ??= (async () => {
      if (unpublished.size > 0) {
        const keysToTell = [...unpublished];
        unpublished.clear();
        await publish(keysToTell);
      }
      const keysToRetry = [...pending];
      const outcomes = await Promise.allSettled(keysToRetry.map(dropInRedis));
      const dropped = keysToRetry.filter((_, i) => outcomes[i]!.status === 'fulfilled');
      if (dropped.length === 0) return;
      for (const key of dropped) pending.delete(key);
      options.onDropped?.(dropped);
      // Every instance's L1 may have read the old value from Redis meanwhile.
      await publish(dropped);
    })().finally(() => {
      retrying = undefined;
    });
  };
  // At once when the connection is back, not up to a second later.
  redis.on('ready', retryPending);
  const retry = setInterval(retryPending, INVALIDATION_RETRY_MILLIS);
  retry.unref();

  return {
    async invalidate(keysToDrop: string[]): Promise<void> {
      const outcomes = await Promise.allSettled(keysToDrop.map(dropInRedis));
      outcomes.forEach((outcome, i) => {
        if (outcome.status === 'rejected') {
          pending.add(keysToDrop[i]!);
          warn(outcome.reason, 'cache invalidation failed; retrying every second');
        }
      });
      await publish(keysToDrop);
    },
    /**
     * Tells every instance that these keys changed, without touching Redis' values: for state
     * that lives elsewhere (sessions, a bot's chunks in memory). A message that cannot be
     * published now is published with the retries. Never rejects.
     */
    announce: (keysToTell: string[]): Promise<void> => publish(keysToTell),
    /** Keys whose invalidation still waits for Redis. */
    pendingCount: () => pending.size,
    isPending: (key: string) => pending.has(key),
    stop(): void {
      clearInterval(retry);
      redis.off('ready', retryPending);
    },
  };
}
