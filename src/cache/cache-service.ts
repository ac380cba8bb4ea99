import type { Redis } from 'ioredis';
import { fromCacheJson, toCacheJson } from '../platform/redis/json';

/** Keys deleted per UNLINK, and the SCAN page size, of `deletePattern`. */
const DELETE_BATCH = 500;

export type CacheService = ReturnType<typeof createCacheService>;

/**
 * The plan's cache operations over one Redis connection. Keys come from `createCacheKeys`
 * (prefix included). These calls throw when Redis fails: callers on the read path catch and
 * fall through to PostgreSQL, because a cache failure must never fail a request.
 */
export function createCacheService(redis: Redis) {
  return {
    get: (key: string): Promise<string | null> => redis.get(key),

    async set(key: string, value: string, ttlSeconds: number): Promise<void> {
      await redis.set(key, value, 'EX', ttlSeconds);
    },

    /** Deletes the keys; resolves to how many existed. */
    async delete(...keys: string[]): Promise<number> {
      return keys.length === 0 ? 0 : redis.unlink(...keys);
    },

    /**
     * Deletes every key matching `pattern` (a glob that must include the prefix) with SCAN
     * and UNLINK in batches: never KEYS, which blocks Redis for the whole keyspace. Keys
     * written while it runs may survive. For operators (cache flushes), not the request path.
     * `keep` spares matching keys it returns true for.
     */
    async deletePattern(pattern: string, options: { keep?: (key: string) => boolean } = {}): Promise<number> {
      let deleted = 0;
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', DELETE_BATCH);
        cursor = next;
        const keys = options.keep ? found.filter((key) => !options.keep!(key)) : found;
        if (keys.length > 0) deleted += await redis.unlink(...keys);
      } while (cursor !== '0');
      return deleted;
    },

    exists: async (key: string): Promise<boolean> => (await redis.exists(key)) === 1,

    async getJSON<T>(key: string): Promise<T | undefined> {
      const text = await redis.get(key);
      return text === null ? undefined : fromCacheJson<T>(text);
    },

    async setJSON(key: string, value: unknown, ttlSeconds: number): Promise<void> {
      await redis.set(key, toCacheJson(value), 'EX', ttlSeconds);
    },
  };
}
