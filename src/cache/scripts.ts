import type { Redis } from 'ioredis';

/**
 * The Lua scripts of the read path, each opening with a header that names its KEYS, ARGV and
 * return value. Kept as strings (not .lua files) so the compiled build needs no copy step.
 * ioredis sends EVALSHA and falls back to EVAL once per connection.
 */
const SET_IF_GENERATION = `
-- set-if-generation: writes a value loaded from PostgreSQL back to the cache, unless the
-- entity was invalidated since the loader read its generation (its value would be stale).
-- KEYS[1] value key            KEYS[2] generation key (same hash tag)
-- ARGV[1] generation read before the database query ('' when there was none)
-- ARGV[2] value                ARGV[3] TTL in seconds
-- returns 1 when written, 0 when the generation moved on
local generation = redis.call('GET', KEYS[2]) or ''
if generation ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
`;

const INVALIDATE = `
-- invalidate: drops a cached value and moves its generation on, so a loader that read the
-- database before this cannot write its value back.
-- KEYS[1] value key            KEYS[2] generation key (same hash tag)
-- ARGV[1] TTL of the generation key in seconds (longer than any database read)
-- returns the new generation
redis.call('UNLINK', KEYS[1])
local generation = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
return generation
`;

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

/** Registers the scripts on `redis` (idempotent per connection) and returns typed callers. */
export function defineCacheScripts(redis: Redis): CacheScripts {
  const commands = redis as Redis & {
    parleySetIfGeneration?: (...args: (string | number)[]) => Promise<number>;
    parleyInvalidate?: (...args: (string | number)[]) => Promise<number>;
  };
  if (!commands.parleySetIfGeneration) {
    redis.defineCommand('parleySetIfGeneration', { numberOfKeys: 2, lua: SET_IF_GENERATION });
    redis.defineCommand('parleyInvalidate', { numberOfKeys: 2, lua: INVALIDATE });
  }
  return {
    setIfGeneration: (key, generationKey, expected, value, ttlSeconds) =>
      commands.parleySetIfGeneration!(key, generationKey, expected, value, ttlSeconds),
    invalidate: (key, generationKey, generationTtlSeconds) =>
      commands.parleyInvalidate!(key, generationKey, generationTtlSeconds),
  };
}

const VECTOR_GET = `
-- vector-get: reads a bot's cached search result in one round trip, if the bot's vector
-- version is the one the caller expects (its last-seen one: it changes only with the sources).
-- KEYS[1] version key   vector-version:{botId}
-- KEYS[2] result key    vector:{botId}:<ARGV[1]>:<queryHash>   (same hash tag: one slot)
-- ARGV[1] expected version ('0' when the caller has seen none)
-- returns { version, result }: version is the current one ('0' when the key is missing);
-- result is the JSON, or nil when there is none or the version is not ARGV[1] (the caller
-- then reads the result key of the version returned)
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then
  return { version, false }
end
return { version, redis.call('GET', KEYS[2]) }
`;

const VECTOR_SET = `
-- vector-set: stores a search result only if the bot's vector version is still the one read
-- before the result was computed; a result computed from chunks that changed meanwhile (the
-- version was bumped) is dropped, never stored under any version. Also keeps the version key
-- alive for at least ARGV[4] ms (never shortened): the version key outlives every result
-- stored under it, so when it does expire none of the bot's results is left, and its count
-- restarting at 0 cannot make an old result reachable again.
-- KEYS[1] version key   vector-version:{botId}
-- KEYS[2] result key    vector:{botId}:<ARGV[1]>:<queryHash>   (same hash tag: one slot)
-- ARGV[1] version read before the query ('0': the version key was missing)
-- ARGV[2] result JSON   ARGV[3] its TTL in seconds
-- ARGV[4] least TTL of the version key in milliseconds (twice ARGV[3])
-- returns 1 when stored, 0 when the version moved on
local current = redis.call('GET', KEYS[1])
if (current or '0') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
if current then
  -- -1: kept without expiry (by an operator), which is safe as it is.
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl >= 0 and pttl < tonumber(ARGV[4]) then
    redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
  end
end
return 1
`;

const VECTOR_BUMP = `
-- vector-bump: makes every cached search result of a bot unreachable in O(1): the version is
-- part of each result key, so the old results are never read again and expire by their TTL.
-- The version key keeps at least ARGV[1] ms to live (never shortened): twice the results' TTL,
-- so it outlives the results stored before this bump (vector-set extends it for later ones).
-- KEYS[1] version key   vector-version:{botId}
-- ARGV[1] least TTL of the version key in milliseconds
-- returns the new version (1 or more)
local version = redis.call('INCR', KEYS[1])
-- -1: INCR has just created the key (or it had no expiry): it gets one now.
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return version
`;

const VECTOR_COUNT = `
-- vector-count: counts one search in the deployment's popular-query set, which the worker's
-- warmer reads, and keeps the set bounded between the warmer's runs: past twice ARGV[2]
-- members, the least asked are dropped down to ARGV[2] (amortised O(log n) per call).
-- KEYS[1] popular-query set   vector-popular (sorted set)
-- ARGV[1] member: JSON [botId, limit, normalised query]
-- ARGV[2] members kept when trimming
-- returns the member's new count
local score = redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
local keep = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 2 * keep then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1))
end
return score
`;

export interface VectorScripts {
  /** `[current version, result JSON or null]`; the result only when the version is `expectedVersion`. */
  get(versionKey: string, resultKey: string, expectedVersion: number): Promise<[string, string | null]>;
  /** 1 when stored, 0 when the version is no longer `version`. */
  set(
    versionKey: string,
    resultKey: string,
    version: number,
    value: string,
    ttlSeconds: number,
    versionTtlMillis: number,
  ): Promise<number>;
  /** The new version. */
  bump(versionKey: string, versionTtlMillis: number): Promise<number>;
  count(popularKey: string, member: string, keep: number): Promise<string>;
}

/** Registers the vector cache's scripts on `redis` (idempotent per connection) and returns typed callers. */
export function defineVectorScripts(redis: Redis): VectorScripts {
  type Call<T> = (...args: (string | number)[]) => Promise<T>;
  const commands = redis as Redis & {
    parleyVectorGet?: Call<[string, string | null]>;
    parleyVectorSet?: Call<number>;
    parleyVectorBump?: Call<number>;
    parleyVectorCount?: Call<string>;
  };
  if (!commands.parleyVectorGet) {
    redis.defineCommand('parleyVectorGet', { numberOfKeys: 2, lua: VECTOR_GET });
    redis.defineCommand('parleyVectorSet', { numberOfKeys: 2, lua: VECTOR_SET });
    redis.defineCommand('parleyVectorBump', { numberOfKeys: 1, lua: VECTOR_BUMP });
    redis.defineCommand('parleyVectorCount', { numberOfKeys: 1, lua: VECTOR_COUNT });
  }
  return {
    get: (versionKey, resultKey, expectedVersion) => commands.parleyVectorGet!(versionKey, resultKey, expectedVersion),
    set: (versionKey, resultKey, version, value, ttlSeconds, versionTtlMillis) =>
      commands.parleyVectorSet!(versionKey, resultKey, version, value, ttlSeconds, versionTtlMillis),
    bump: (versionKey, versionTtlMillis) => commands.parleyVectorBump!(versionKey, versionTtlMillis),
    count: (popularKey, member, keep) => commands.parleyVectorCount!(popularKey, member, keep),
  };
}
