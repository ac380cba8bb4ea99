import { createHash, randomInt } from 'node:crypto';
import type { RedisClient } from '../platform/redis/connection';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../core/logger';
import type { ChunkMatch } from '../repos/chunks';
import type { CacheStats } from './cache-stats';
import type { CacheKeys } from '../platform/redis/keys';
import { defineVectorScripts } from './scripts';
import { createThrottledWarn } from '../core/throttled-warn';

/** A Redis failure is logged at most this often; every one is counted. */
const WARN_INTERVAL_MILLIS = 60_000;
/** Bots whose last-seen version this process remembers (a guess that saves a round trip; Redis decides). */
const KNOWN_VERSIONS_MAX = 10_000;
/** ... and the bytes they may take (bot id + version + overhead each): far more than 10,000 bot ids need. */
const KNOWN_VERSIONS_MAX_BYTES = 4 * 1024 * 1024;
/** Size the popular-query set is trimmed to; each search's count trims it past twice this. */
const POPULAR_QUERIES_KEPT = 1000;
/**
 * Longer searches (whole chat messages, up to 4,000 characters) are cached but not counted: they
 * rarely repeat word for word, and they would make the popular-query set large.
 */
const POPULAR_QUERY_MAX_LENGTH = 500;
/** A popular query whose decayed count falls below this is forgotten (asked once, four warmer runs ago). */
const POPULAR_FORGET_BELOW = 0.1;
/** Version bumps that failed are retried this often until Redis takes them. */
const BUMP_RETRY_MILLIS = 1_000;
/** Versions are random integers from 1 to below this (2^48: exact as a JavaScript number and in Lua). */
const VERSION_RANGE = 2 ** 48;

/**
 * What the cache keys a search by: NFKC, lowercased, runs of whitespace as one space, trimmed.
 * The embedder reads text the same way, so the variants get the same results anyway.
 */
export function normaliseQuery(query: string): string {
  return query.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** sha256 of the normalised query and the limit: the last part of a `vector:` key. */
export function vectorQueryHash(normalisedQuery: string, limit: number): string {
  return createHash('sha256').update(`${normalisedQuery}\n${limit}`).digest('hex');
}

/** A new random version: never 0, which stands for "no version key". */
const newVersion = () => randomInt(1, VERSION_RANGE);

/** One search as the popular-query set holds it: enough for the worker to run it again. */
export interface PopularQuery {
  botId: string;
  normalisedQuery: string;
  limit: number;
}

/** What `lookup` found: the bot's version (to store a computed result under) and the result if cached. */
export interface VectorLookup {
  /** 0: the bot has no version key (nothing of it is cached); `store` creates one. */
  version: number;
  matches?: ChunkMatch[];
}

export interface VectorCacheOptions {
  /** The command connection to the cache's Redis. */
  redis: RedisClient;
  keys: Pick<CacheKeys, 'vectorVersion' | 'vector' | 'vectorPopular' | 'vectorBudget'>;
  /** `VECTOR_CACHE_TTL_SECONDS` (600 by default); the version keys live at least twice as long. */
  ttlSeconds: number;
  /** `VECTOR_CACHE_MAX_LIMIT`: searches for more results are neither cached nor counted. Default 10. */
  maxLimit?: number;
  /** `VECTOR_CACHE_BOT_BUDGET_BYTES`: result bytes one bot may store per TTL window. Default 4 MiB. */
  botBudgetBytes?: number;
  /** Hits and misses go to the `vector` family on the `redis` layer. */
  stats: CacheStats;
  log: Logger;
}

export type VectorCache = ReturnType<typeof createVectorCache>;

/**
 * Search results in Redis under `vector:{botId}:{version}:{sha256(query \n limit)}`. A bot's
 * results are invalidated at once by replacing its version (`bumpVersion`), which is part of
 * every key; a result is stored only if the version is still the one read before it was
 * computed (a script checks), so a result from chunks that changed meanwhile is never stored.
 *
 * Versions are random numbers, not counts, and no result is ever stored under a missing
 * version key ("0"): the first store for a bot creates its key with a random version. So a
 * version key that goes away while results stored under it live (it expired, an operator
 * flushed it, or a cache Redis with `allkeys-lru` evicted it) can only come back as a version
 * none of them was stored under: an old result is never reachable again, whatever is evicted.
 * (A counter restarting at 0 would bring them all back.) A new random version equals an old
 * one of the same bot with a chance of one in 2^48. The version key is kept alive at least
 * twice the results' TTL, so that results stay reachable while they live: for the hit rate, no
 * longer for safety.
 *
 * What is cached has a budget, as the cache may share the write buffer's Redis:
 * - searches for more than `maxLimit` results (owners' `search` up to 50) are answered from
 *   PostgreSQL and not cached: chat asks for 3, `search` for 5 by default, the read
 *   benchmark for 3, so the searches that repeat are all cached;
 * - each bot may store `botBudgetBytes` of results per TTL window (so at most twice that lives
 *   at once); past it, its searches are answered uncached until the window ends. The
 *   warmer's refreshes of the most asked searches (a few dozen, deployment-wide) are exempt.
 *
 * Nothing on the search path or the invalidation path rejects: a Redis failure reads as a
 * miss (the caller asks PostgreSQL), is counted (`failures`), and is logged at warn at most
 * once a minute. Only the warmer's calls (`takePopular`, `refresh`) reject.
 */
export function createVectorCache(options: VectorCacheOptions) {
  const { redis, keys, ttlSeconds, stats, log } = options;
  const maxLimit = options.maxLimit ?? 10;
  const botBudgetBytes = options.botBudgetBytes ?? 4 * 1024 * 1024;
  const scripts = defineVectorScripts(redis);
  const versionTtlMillis = 2 * ttlSeconds * 1000;
  const knownVersions = new LRUCache<string, number>({
    max: KNOWN_VERSIONS_MAX,
    maxSize: KNOWN_VERSIONS_MAX_BYTES,
    // A version is at most 15 digits; 64 for the entry itself.
    sizeCalculation: (_version, botId) => botId.length + 15 + 64,
  });
  let failures = 0;
  /** Results not stored because their bot had spent its budget. */
  let overBudget = 0;
  /**
   * Bots whose version bump Redis has not taken yet: their old results may still be there, so
   * their searches skip the cache until a retry (every second, and at once on reconnect) lands.
   */
  const pendingBumps = new Set<string>();
  const bump = async (botId: string) => {
    knownVersions.set(botId, Number(await scripts.bump(keys.vectorVersion(botId), newVersion(), versionTtlMillis)));
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
  const budgetWarn = createThrottledWarn(log, WARN_INTERVAL_MILLIS);

  const popularMember = (query: PopularQuery) => JSON.stringify([query.botId, query.limit, query.normalisedQuery]);

  function parsePopular(member: string): PopularQuery | undefined {
    try {
      const [botId, limit, normalisedQuery] = JSON.parse(member) as unknown[];
      if (typeof botId === 'string' && Number.isSafeInteger(limit) && typeof normalisedQuery === 'string') {
        // Counted before VECTOR_CACHE_MAX_LIMIT was lowered: no longer cached, so not warmed.
        if ((limit as number) > maxLimit) return undefined;
        return { botId, limit: limit as number, normalisedQuery };
      }
    } catch {
      // Not ours (an older format, a hand edit): skipped below.
    }
    log.warn({ member }, 'skipping an unreadable popular query');
    return undefined;
  }

  /**
   * Stores under `version` (the one read before computing; 0: none yet, then a new one is
   * made), if that is still the bot's. `budgetBytes` 0: exempt from the bot's budget.
   */
  async function storeUnder(
    botId: string,
    version: number,
    hash: string,
    matches: ChunkMatch[],
    budgetBytes: number,
  ): Promise<'stored' | 'superseded' | 'over-budget'> {
    const storeVersion = version === 0 ? newVersion() : version;
    const outcome = await scripts.set(
      {
        version: keys.vectorVersion(botId),
        result: keys.vector(botId, storeVersion, hash),
        budget: keys.vectorBudget(botId),
      },
      version,
      storeVersion,
      JSON.stringify(matches),
      ttlSeconds,
      versionTtlMillis,
      budgetBytes,
    );
    if (outcome === 1) {
      knownVersions.set(botId, storeVersion);
      return 'stored';
    }
    if (outcome === -1) {
      overBudget += 1;
      // A bot that spends its budget is asked unusually many distinct searches: worth a line.
      budgetWarn(undefined, 'a bot spent its search cache budget; its new searches go uncached for now', {
        botId,
        budgetBytes,
      });
      return 'over-budget';
    }
    return 'superseded';
  }

  return {
    ttlSeconds,

    /** Whether searches for `limit` results are cached (and counted for the warmer): up to `maxLimit`. */
    caches: (limit: number): boolean => limit <= maxLimit,

    /** Redis failures since start (each read as a miss). */
    failures: (): number => failures,

    /** Results not stored since start because their bot had spent its budget. */
    overBudget: (): number => overBudget,

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
        if (version === 0) knownVersions.delete(botId);
        else knownVersions.set(botId, version);
        // Version 0: the bot has no version key, and nothing is ever stored under a missing one.
        const text =
          version === 0 ? null : version === expected ? cached : await redis.get(keys.vector(botId, version, hash));
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
     * Stores `matches` under `version`, only if that is still the bot's version and the bot has
     * budget left; true when stored. `version` must be the one `lookup` read before the query
     * ran (0: the bot had none; a new one is made).
     */
    async store(
      botId: string,
      normalisedQuery: string,
      limit: number,
      version: number,
      matches: ChunkMatch[],
    ): Promise<boolean> {
      try {
        const hash = vectorQueryHash(normalisedQuery, limit);
        return (await storeUnder(botId, version, hash, matches, botBudgetBytes)) === 'stored';
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

    /** Counts one search for the warmer (searches that are cached only). Never rejects. */
    async countSearch(query: PopularQuery): Promise<void> {
      if (query.normalisedQuery.length > POPULAR_QUERY_MAX_LENGTH || query.limit > maxLimit) return;
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
     * is missing or has less than a third of its TTL left, whatever the bot's budget (the
     * warmer refreshes a few dozen searches at most). Resolves to what it did. Rejects when
     * Redis or `compute` fails.
     */
    async refresh(
      query: PopularQuery,
      compute: (botId: string, normalisedQuery: string, limit: number) => Promise<ChunkMatch[]>,
    ): Promise<'fresh' | 'refreshed' | 'superseded'> {
      const { botId, normalisedQuery, limit } = query;
      const hash = vectorQueryHash(normalisedQuery, limit);
      const version = Number((await redis.get(keys.vectorVersion(botId))) ?? 0);
      // Version 0 (no version key): nothing of the bot is cached.
      const ttlMillis = version === 0 ? -2 : await redis.pttl(keys.vector(botId, version, hash));
      // -2: missing; -1 (no expiry) is never written here, so it is left alone.
      if (ttlMillis === -1 || ttlMillis >= (ttlSeconds * 1000) / 3) return 'fresh';
      const matches = await compute(botId, normalisedQuery, limit);
      return (await storeUnder(botId, version, hash, matches, 0)) === 'stored' ? 'refreshed' : 'superseded';
    },
  };
}
