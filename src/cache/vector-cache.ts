import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../logger';
import type { ChunkMatch } from '../repos/chunks';
import type { CacheStats } from './cache-stats';
import type { CacheKeys } from './keys';
import { defineVectorScripts } from './scripts';
import { createThrottledWarn } from './throttled-warn';

/** A Redis failure is logged at most this often; every one is counted. */
const WARN_INTERVAL_MILLIS = 60_000;
/** Bots whose last-seen version this process remembers (a guess that saves a round trip; Redis decides). */
const KNOWN_VERSIONS_MAX = 10_000;
/** Size the popular-query set is trimmed to; each search's count trims it past twice this. */
export const POPULAR_QUERIES_KEPT = 1000;
/**
 * Longer searches (whole chat messages, up to 4,000 characters) are cached but not counted: they
 * rarely repeat word for word, and they would make the popular-query set large.
 */
const POPULAR_QUERY_MAX_LENGTH = 500;
/** A popular query whose decayed count falls below this is forgotten (asked once, four warmer runs ago). */
const POPULAR_FORGET_BELOW = 0.1;

/**
 * What the cache keys a search by: NFKC, lowercased, runs of whitespace as one space, trimmed.
 * The embedder reads text the same way, so the variants get the same results anyway.
 */
/** Version bumps that failed are retried this often until Redis takes them. */
const BUMP_RETRY_MILLIS = 1_000;

export function normaliseQuery(query: string): string {
  return query.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** sha256 of the normalised query and the limit: the last part of a `vector:` key. */
export function vectorQueryHash(normalisedQuery: string, limit: number): string {
  return createHash('sha256').update(`${normalisedQuery}\n${limit}`).digest('hex');
}

/** One search as the popular-query set holds it: enough for the worker to run it again. */
export interface PopularQuery {
  botId: string;
  normalisedQuery: string;
  limit: number;
}

/** What `lookup` found: the bot's version (to store a computed result under) and the result if cached. */
export interface VectorLookup {
  version: number;
  matches?: ChunkMatch[];
}

export interface VectorCacheOptions {
  /** The command connection. */
  redis: Redis;
  keys: Pick<CacheKeys, 'vectorVersion' | 'vector' | 'vectorPopular'>;
  /** `VECTOR_CACHE_TTL_SECONDS` (600 by default); the version keys live at least twice as long. */
  ttlSeconds: number;
  /** Hits and misses go to the `vector` family on the `redis` layer. */
  stats: CacheStats;
  log: Logger;
}

export type VectorCache = ReturnType<typeof createVectorCache>;

/**
 * Search results in Redis under `vector:{botId}:{version}:{sha256(query \n limit)}`. A bot's
 * results are invalidated at once by bumping its version (`bumpVersion`), which is part of
 * every key; a result is stored only if the version is still the one read before it was
 * computed (a script checks), so a result from chunks that changed meanwhile is never stored.
 *
 * The version key expires, 2 × TTL after the last bump or store at the earliest, so idle bots
 * leave nothing behind. That is safe: every store and every bump extends it (never shortens
 * it) to twice the results' TTL, so the version key outlives every result stored under it;
 * when it expires, none of the bot's results is left, and its count restarting at 0 cannot
 * make an old result reachable. This holds as long as Redis does not evict keys
 * (`maxmemory-policy noeviction`, which the deployment runs for the write buffer anyway): an
 * evicted version key would restart at 0 while results live.
 *
 * Nothing on the search path or the invalidation path rejects: a Redis failure reads as a
 * miss (the caller asks PostgreSQL), is counted (`failures`), and is logged at warn at most
 * once a minute. Only the warmer's calls (`takePopular`, `refresh`) reject.
 */
export function createVectorCache(options: VectorCacheOptions) {
  const { redis, keys, ttlSeconds, stats, log } = options;
  const scripts = defineVectorScripts(redis);
  const versionTtlMillis = 2 * ttlSeconds * 1000;
  const knownVersions = new LRUCache<string, number>({ max: KNOWN_VERSIONS_MAX });
  let failures = 0;
  /**
   * Bots whose version bump Redis has not taken yet: their old results may still be there, so
   * their searches skip the cache until a retry (every second, and at once on reconnect) lands.
   */
  const pendingBumps = new Set<string>();
  const bump = async (botId: string) => {
    knownVersions.set(botId, await scripts.bump(keys.vectorVersion(botId), versionTtlMillis));
  };
  const retryBumps = () => {
    for (const botId of pendingBumps) {
      bump(botId).then(
        () => pendingBumps.delete(botId),
        () => undefined,
      );
    }
  };
  redis.on('ready', retryBumps);
  const retry = setInterval(retryBumps, BUMP_RETRY_MILLIS);
  retry.unref();

  const warn = createThrottledWarn(log, WARN_INTERVAL_MILLIS);
  function failed(error: unknown, operation: string): void {
    failures += 1;
    warn(error, 'vector cache unavailable; searching PostgreSQL', { operation });
  }

  const popularMember = (query: PopularQuery) => JSON.stringify([query.botId, query.limit, query.normalisedQuery]);

  function parsePopular(member: string): PopularQuery | undefined {
    try {
      const [botId, limit, normalisedQuery] = JSON.parse(member) as unknown[];
      if (typeof botId === 'string' && Number.isSafeInteger(limit) && typeof normalisedQuery === 'string') {
        return { botId, limit: limit as number, normalisedQuery };
      }
    } catch {
      // Not ours (an older format, a hand edit): skipped below.
    }
    log.warn({ member }, 'skipping an unreadable popular query');
    return undefined;
  }

  async function storeUnder(botId: string, version: number, hash: string, matches: ChunkMatch[]): Promise<boolean> {
    const stored = await scripts.set(
      keys.vectorVersion(botId),
      keys.vector(botId, version, hash),
      version,
      JSON.stringify(matches),
      ttlSeconds,
      versionTtlMillis,
    );
    return stored === 1;
  }

  return {
    ttlSeconds,

    /** Redis failures since start (each read as a miss). */
    failures: (): number => failures,

    /**
     * The bot's current version and its cached result for the query, in one round trip when
     * the bot's version is the one last seen here. Undefined when Redis failed.
     */
    async lookup(botId: string, normalisedQuery: string, limit: number): Promise<VectorLookup | undefined> {
      if (pendingBumps.has(botId)) return undefined;
      const hash = vectorQueryHash(normalisedQuery, limit);
      const expected = knownVersions.get(botId) ?? 0;
      try {
        const [versionText, cached] = await scripts.get(
          keys.vectorVersion(botId),
          keys.vector(botId, expected, hash),
          expected,
        );
        const version = Number(versionText);
        knownVersions.set(botId, version);
        const text = version === expected ? cached : await redis.get(keys.vector(botId, version, hash));
        const matches = text === null ? undefined : (JSON.parse(text) as ChunkMatch[]);
        stats.record('vector', 'redis', matches ? 1 : 0, matches ? 0 : 1);
        return { version, matches };
      } catch (error: unknown) {
        failed(error, 'lookup');
        stats.record('vector', 'redis', 0, 1);
        return undefined;
      }
    },

    /**
     * Stores `matches` under `version`, only if that is still the bot's version; true when
     * stored. `version` must be the one read (`lookup`, `versionOf`) before the query ran.
     */
    async store(
      botId: string,
      normalisedQuery: string,
      limit: number,
      version: number,
      matches: ChunkMatch[],
    ): Promise<boolean> {
      try {
        return await storeUnder(botId, version, vectorQueryHash(normalisedQuery, limit), matches);
      } catch (error: unknown) {
        failed(error, 'store');
        return false;
      }
    },

    /**
     * Makes every cached result of the bot unreachable, in O(1). Call after the change to its
     * sources (or the bot) committed. Never rejects: a bump Redis cannot take now is retried
     * until it can, and this instance's searches of the bot skip the cache meanwhile.
     */
    bumpVersion: async (botId: string): Promise<void> => {
      try {
        await bump(botId);
      } catch (error: unknown) {
        failures += 1;
        pendingBumps.add(botId);
        log.error({ err: error, botId }, 'could not invalidate the bot’s cached search results; retrying');
      }
    },

    /** Stops the retries of pending bumps. */
    stop(): void {
      clearInterval(retry);
      redis.off('ready', retryBumps);
    },

    /** Counts one search for the warmer. Never rejects. */
    async countSearch(query: PopularQuery): Promise<void> {
      if (query.normalisedQuery.length > POPULAR_QUERY_MAX_LENGTH) return;
      try {
        await scripts.count(keys.vectorPopular(), popularMember(query), POPULAR_QUERIES_KEPT);
      } catch (error: unknown) {
        failed(error, 'count');
      }
    },

    /**
     * The `top` most asked searches; then every count is halved (so the ranking follows what
     * is asked now), the faded ones dropped and the set trimmed to `POPULAR_QUERIES_KEPT`, in
     * one transaction. Rejects when Redis fails (the warmer logs it and tries next time).
     */
    async takePopular(top: number): Promise<PopularQuery[]> {
      const key = keys.vectorPopular();
      const replies = await redis
        .multi()
        .zrevrange(key, 0, top - 1)
        .zunionstore(key, 1, key, 'WEIGHTS', 0.5)
        .zremrangebyscore(key, '-inf', `(${POPULAR_FORGET_BELOW}`)
        .zremrangebyrank(key, 0, -(POPULAR_QUERIES_KEPT + 1))
        .exec();
      const [error, members] = replies?.[0] ?? [new Error('the transaction was discarded'), undefined];
      if (error) throw error;
      return (members as string[]).map(parsePopular).filter((query): query is PopularQuery => query !== undefined);
    },

    /**
     * For the warmer: runs the search again with `compute` and stores it when its cached result
     * is missing or has less than a third of its TTL left. Resolves to what it did. Rejects
     * when Redis or `compute` fails.
     */
    async refresh(
      query: PopularQuery,
      compute: (botId: string, normalisedQuery: string, limit: number) => Promise<ChunkMatch[]>,
    ): Promise<'fresh' | 'refreshed' | 'superseded'> {
      const { botId, normalisedQuery, limit } = query;
      const hash = vectorQueryHash(normalisedQuery, limit);
      const version = Number((await redis.get(keys.vectorVersion(botId))) ?? 0);
      const ttlMillis = await redis.pttl(keys.vector(botId, version, hash));
      // -2: missing; -1 (no expiry) is never written here, so it is left alone.
      if (ttlMillis === -1 || ttlMillis >= (ttlSeconds * 1000) / 3) return 'fresh';
      const matches = await compute(botId, normalisedQuery, limit);
      return (await storeUnder(botId, version, hash, matches)) ? 'refreshed' : 'superseded';
    },
  };
}
