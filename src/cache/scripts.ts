import type { RedisClient } from '../platform/redis/connection';
import { defineScripts } from '../platform/redis/scripts';

export interface CacheScripts {
  setIfGeneration(
    key: string,
    generationKey: string,
    expected: string,
    value: string,
    ttlSeconds: number,
  ): Promise<number>;
  invalidate(key: string, generationKey: string, generationTtlSeconds: number): Promise<number>;
}

/** The entity cache's scripts on `redis`, typed. */
export function defineCacheScripts(redis: RedisClient): CacheScripts {
  const scripts = defineScripts(redis);
  return {
    setIfGeneration: (key, generationKey, expected, value, ttlSeconds) =>
      scripts.setIfGeneration(key, generationKey, expected, value, ttlSeconds) as Promise<number>,
    invalidate: (key, generationKey, generationTtlSeconds) =>
      scripts.invalidate(key, generationKey, generationTtlSeconds) as Promise<number>,
  };
}

export interface VectorScripts {
  /** `[current version ('0': none), result JSON or null]`; the result only when the version is `expectedVersion`. */
  get(versionKey: string, resultKey: string, expectedVersion: number): Promise<[string, string | null]>;
  /** 1 when stored, 0 when the version is no longer `readVersion`, -1 when over the budget. */
  set(
    keys: { version: string; result: string; budget: string },
    readVersion: number,
    storeVersion: number,
    value: string,
    ttlSeconds: number,
    versionTtlMillis: number,
    budgetBytes: number,
  ): Promise<number>;
  /** The new version (`version`, or the next number should the key hold that already). */
  bump(versionKey: string, version: number, versionTtlMillis: number): Promise<string>;
  count(popularKey: string, member: string, keep: number): Promise<string>;
}

/** The vector cache's scripts on `redis`, typed. */
export function defineVectorScripts(redis: RedisClient): VectorScripts {
  const scripts = defineScripts(redis);
  return {
    get: (versionKey, resultKey, expectedVersion) =>
      scripts.vectorGet(versionKey, resultKey, expectedVersion) as Promise<[string, string | null]>,
    set: (keys, readVersion, storeVersion, value, ttlSeconds, versionTtlMillis, budgetBytes) =>
      scripts.vectorSet(
        keys.version,
        keys.result,
        keys.budget,
        readVersion,
        storeVersion,
        value,
        ttlSeconds,
        versionTtlMillis,
        budgetBytes,
      ) as Promise<number>,
    bump: (versionKey, version, versionTtlMillis) =>
      scripts.vectorBump(versionKey, version, versionTtlMillis) as Promise<string>,
    count: (popularKey, member, keep) => scripts.vectorCount(popularKey, member, keep) as Promise<string>,
  };
}
