import { normaliseQuery, type VectorCache } from '../cache/vector-cache';
import type { ChunkMatch } from '../repos/chunks';
import type { Retriever } from './retriever';

/**
 * The retriever with the vector cache in front: same interface, so search and chat do not
 * know which one they hold (`createAppDeps` decides). A search is keyed by its normalised
 * query, which is also what the inner retriever gets, so a cached result is exactly what
 * PostgreSQL would answer for the key. On a miss the result is computed once per key in this
 * process however many searches ask at the same time (single-flight), then stored if the
 * bot's sources did not change meanwhile (and its budget allows). Searches for more results
 * than the cache keeps (`VECTOR_CACHE_MAX_LIMIT`) go to PostgreSQL, uncached and uncounted: a
 * caller choosing the size of what is cached is how one client filled Redis at 6.9 MB/s.
 * When Redis fails, every search goes to PostgreSQL.
 */
export function createCachedRetriever(deps: { retriever: Retriever; cache: VectorCache }): Retriever {
  const { retriever, cache } = deps;
  /** Misses being computed, by bot, version, limit and query. */
  const inFlight = new Map<string, Promise<ChunkMatch[]>>();

  return {
    async retrieve(botId: string, query: string, limit: number): Promise<ChunkMatch[]> {
      const normalisedQuery = normaliseQuery(query);
      if (!cache.caches(limit)) return retriever.retrieve(botId, normalisedQuery, limit);
      // Not awaited: counting must not slow the search; it never rejects.
      void cache.countSearch({ botId, normalisedQuery, limit });
      const found = await cache.lookup(botId, normalisedQuery, limit);
      if (!found) return retriever.retrieve(botId, normalisedQuery, limit);
      if (found.matches) return found.matches;
      const { version } = found;
      const flightKey = JSON.stringify([botId, version, limit, normalisedQuery]);
      let computing = inFlight.get(flightKey);
      if (!computing) {
        computing = (async () => {
          const matches = await retriever.retrieve(botId, normalisedQuery, limit);
          await cache.store(botId, normalisedQuery, limit, version, matches);
          return matches;
        })().finally(() => inFlight.delete(flightKey));
        inFlight.set(flightKey, computing);
      }
      return computing;
    },
  };
}
