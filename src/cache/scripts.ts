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
-- returns { version, result }: version is the current one, '0' when the key is missing (no
-- result is ever stored under '0', so none is read); result is the JSON, or nil when there is
-- none or the version is not ARGV[1] (the caller then reads the result key of the version
-- returned)
local version = redis.call('GET', KEYS[1])
if not version then
  return { '0', false }
end
if version ~= ARGV[1] then
  return { version, false }
end
return { version, redis.call('GET', KEYS[2]) }
`;

const VECTOR_SET = `
-- vector-set: stores a search result only if the bot's vector version is still the one read
-- before the result was computed; a result computed from chunks that changed meanwhile (the
-- version was replaced) is dropped, never stored under any version. A bot without a version
-- key gets one now (ARGV[2], random): a result is never stored under a missing version, which
-- an evicted or expired key would bring back. The version key is kept alive for at least
-- ARGV[5] ms (never shortened), so its results stay reachable while they live. Within the
-- bot's byte budget only: the budget key counts the bytes stored in a window of ARGV[4] s,
-- so at most twice the budget lives at once.
-- KEYS[1] version key   vector-version:{botId}
-- KEYS[2] result key    vector:{botId}:<ARGV[2]>:<queryHash>   (same hash tag: one slot)
-- KEYS[3] budget key    vector-budget:{botId}                  (same hash tag)
-- ARGV[1] version read before the query ('0': the version key was missing)
-- ARGV[2] version to store under: ARGV[1], or a new random one when ARGV[1] is '0'
-- ARGV[3] result JSON   ARGV[4] its TTL in seconds
-- ARGV[5] least TTL of the version key in milliseconds (twice ARGV[4])
-- ARGV[6] the bot's budget in bytes per window; 0: none (the warmer's few popular searches)
-- returns 1 when stored, 0 when the version moved on, -1 when over the budget
local current = redis.call('GET', KEYS[1])
if (current or '0') ~= ARGV[1] then
  return 0
end
local budget = tonumber(ARGV[6])
if budget > 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used + #ARGV[3] > budget then
    return -1
  end
  redis.call('INCRBY', KEYS[3], #ARGV[3])
  if redis.call('TTL', KEYS[3]) < 0 then
    redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
  end
end
local least = tonumber(ARGV[5])
if not current then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', least)
elseif redis.call('PTTL', KEYS[1]) < least then
  redis.call('PEXPIRE', KEYS[1], least)
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[4]))
return 1
`;

const VECTOR_BUMP = `
-- vector-bump: makes every cached search result of a bot unreachable in O(1): the version is
-- part of each result key, so the old results are never read again and expire by their TTL.
-- The new version is random (ARGV[1]), not a count: a version key that was evicted or expired
-- and is created again never takes a value its old results were stored under.
-- The version key keeps at least ARGV[2] ms to live (never shortened): twice the results' TTL.
-- KEYS[1] version key   vector-version:{botId}
-- ARGV[1] the new version (random, from 1 to 2^48)
-- ARGV[2] least TTL of the version key in milliseconds
-- returns the new version
local version = ARGV[1]
if redis.call('GET', KEYS[1]) == version then
  -- The same random number twice (one chance in 2^48) would invalidate nothing.
  version = string.format('%.0f', tonumber(version) + 1)
end
local ttl = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], version, 'PX', ttl)
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

/** Registers the vector cache's scripts on `redis` (idempotent per connection) and returns typed callers. */
export function defineVectorScripts(redis: Redis): VectorScripts {
  type Call<T> = (...args: (string | number)[]) => Promise<T>;
  const commands = redis as Redis & {
    parleyVectorGet?: Call<[string, string | null]>;
    parleyVectorSet?: Call<number>;
    parleyVectorBump?: Call<string>;
    parleyVectorCount?: Call<string>;
  };
  if (!commands.parleyVectorGet) {
    redis.defineCommand('parleyVectorGet', { numberOfKeys: 2, lua: VECTOR_GET });
    redis.defineCommand('parleyVectorSet', { numberOfKeys: 3, lua: VECTOR_SET });
    redis.defineCommand('parleyVectorBump', { numberOfKeys: 1, lua: VECTOR_BUMP });
    redis.defineCommand('parleyVectorCount', { numberOfKeys: 1, lua: VECTOR_COUNT });
  }
  return {
    get: (versionKey, resultKey, expectedVersion) => commands.parleyVectorGet!(versionKey, resultKey, expectedVersion),
    set: (keys, readVersion, storeVersion, value, ttlSeconds, versionTtlMillis, budgetBytes) =>
      commands.parleyVectorSet!(
        keys.version,
        keys.result,
        keys.budget,
        readVersion,
        storeVersion,
        value,
        ttlSeconds,
        versionTtlMillis,
        budgetBytes,
      ),
    bump: (versionKey, version, versionTtlMillis) => commands.parleyVectorBump!(versionKey, version, versionTtlMillis),
    count: (popularKey, member, keep) => commands.parleyVectorCount!(popularKey, member, keep),
  };
}
