import { LRUCache } from 'lru-cache';
import type { InvalidationWatcher } from '../cache/entity-cache';
import type { ChunksRepo } from '../repos/chunks';
import { indexChunks, type ChunkIndex } from './chunk-ranking';

/** What an entry costs besides its chunks (the LRU's node, the index object); also all a "too large" mark costs. */
const ENTRY_OVERHEAD_BYTES = 200;

/** Held for a bot with more chunks than `botMaxChunks`: its searches go to PostgreSQL. */
const TOO_LARGE = Symbol('too large');

/** How the chunk memory hears of changes: the entity cache's invalidation subscription. */
export interface InvalidationFeed {
  listening(): boolean;
  watch(watcher: InvalidationWatcher): void;
}

export interface ChunkMemoryOptions {
  chunks: Pick<ChunksRepo, 'ofBot'>;
  feed: InvalidationFeed;
  /** The key that names a bot's chunks in invalidations (`CacheKeys.botChunks`). */
  chunksKey(botId: string): string;
  dimension: number;
  /** `CHUNK_MEMORY_MAX_BYTES`: what all bots' chunks may take, estimated (`ChunkIndex.bytes`). */
  maxBytes: number;
  /** `CHUNK_MEMORY_BOT_MAX_CHUNKS`: a bot with more is not held; its searches go to PostgreSQL. */
  botMaxChunks: number;
}

export type ChunkMemory = ReturnType<typeof createChunkMemory>;

export interface ChunkMemoryStats {
  /** Bots held, and bots remembered as too large. */
  bots: number;
  bytes: number;
  /** Searches ranked on chunks already held. */
  hits: number;
  /** Searches that waited for a load, or found the bot too large. */
  misses: number;
}

/** One load of a bot's chunks; `dropped` once an invalidation of the bot arrived while it ran. */
interface Load {
  entry: Promise<ChunkIndex | typeof TOO_LARGE>;
  dropped: boolean;
}

/**
 * Bots' chunks with their embeddings, held in process so that a search (and so a chat send) is
 * ranked without a round trip: an LRU bounded in bytes, each bot loaded from PostgreSQL on its
 * first search in one query and kept until its chunks change.
 *
 * Never stale, by the rules of the entity cache's L1 (it shares its subscription):
 * - every change to a bot's chunks (a source created, ingested, deleted; the bot deleted), by
 *   the api or the worker, invalidates `chunksKey(bot)`, and every instance drops the bot;
 * - a load under way when its bot is dropped answers the searches that joined it but is not kept;
 * - while the subscription is down, messages may be missed: everything is dropped and searches
 *   go to PostgreSQL until it stands again.
 * So nothing here needs a TTL. A bot with more than `botMaxChunks` chunks is remembered as too
 * large (until its chunks change) and answered by PostgreSQL's index.
 */
export function createChunkMemory(options: ChunkMemoryOptions) {
  const { chunks, feed, dimension, botMaxChunks } = options;
  const held = new LRUCache<string, ChunkIndex | typeof TOO_LARGE>({
    maxSize: Math.max(1, options.maxBytes),
    sizeCalculation: (entry) => ENTRY_OVERHEAD_BYTES + (entry === TOO_LARGE ? 0 : entry.bytes),
  });
  const loads = new Map<string, Load>();
  // The key of bot id X is head + X + tail: read the bot back out of a dropped key.
  const [head = '', tail = ''] = options.chunksKey('\n').split('\n');
  const botOf = (key: string) =>
    key.length > head.length + tail.length && key.startsWith(head) && key.endsWith(tail)
      ? key.slice(head.length, key.length - tail.length)
      : undefined;
  let hits = 0;
  let misses = 0;

  const drop = (botId: string) => {
    held.delete(botId);
    const load = loads.get(botId);
    if (load) {
      load.dropped = true;
      loads.delete(botId);
    }
  };
  feed.watch((dropped) => {
    if (dropped !== 'all') {
      for (const key of dropped) {
        const botId = botOf(key);
        if (botId !== undefined) drop(botId);
      }
      return;
    }
    held.clear();
    for (const load of loads.values()) load.dropped = true;
    loads.clear();
  });

  function load(botId: string): Load {
    const started: Load = { dropped: false, entry: Promise.resolve(TOO_LARGE) };
    started.entry = chunks
      .ofBot(botId, botMaxChunks)
      .then((stored) => {
        const entry = stored ? indexChunks(stored, dimension) : TOO_LARGE;
        if (!started.dropped && feed.listening()) held.set(botId, entry);
        return entry;
      })
      .finally(() => {
        if (loads.get(botId) === started) loads.delete(botId);
      });
    loads.set(botId, started);
    return started;
  }

  return {
    /**
     * The bot's chunks, ready to rank; undefined when they are not to be ranked here (the bot
     * has too many, or invalidations cannot reach this process now): ask PostgreSQL. Concurrent
     * first searches of a bot share one load. Rejects when that load fails.
     */
    async chunksOf(botId: string): Promise<ChunkIndex | undefined> {
      if (!feed.listening()) return undefined;
      let entry = held.get(botId);
      if (entry) hits++;
      else {
        misses++;
        entry = await (loads.get(botId) ?? load(botId)).entry;
      }
      return entry === TOO_LARGE ? undefined : entry;
    },

    /** For /metrics: bots held, their estimated bytes, and lookups answered without a load. */
    stats: (): ChunkMemoryStats => ({ bots: held.size, bytes: held.calculatedSize, hits, misses }),
  };
}
