import { createCoherentMemory, type InvalidationFeed } from '../cache/coherent-memory';
import DataLoader from 'dataloader';
import type { ChunksRepo, StoredChunks } from '../repos/chunks';
import { indexChunks, type ChunkIndex } from './chunk-ranking';

/** What an entry costs besides its chunks (the LRU's node, the index object); also all a "too large" mark costs. */
const ENTRY_OVERHEAD_BYTES = 200;

/** Held for a bot with more chunks than `botMaxChunks`: its searches go to PostgreSQL. */
const TOO_LARGE = { tooLarge: true } as const;

/** A bot's chunks as stored, or undefined when it has too many to hold (see `batchChunkLoads`). */
export type ChunkLoad = (botId: string) => Promise<StoredChunks | undefined>;

export interface ChunkMemoryOptions {
  /** Loads a bot's chunks, up to `botMaxChunks` (more: undefined). */
  loadChunks: ChunkLoad;
  feed: InvalidationFeed;
  /** The key that names a bot's chunks in invalidations (`CacheKeys.botChunks`). */
  chunksKey(botId: string): string;
  dimension: number;
  /** `CHUNK_MEMORY_MAX_BYTES`: what all bots' chunks may take, estimated (`ChunkIndex.bytes`). */
  maxBytes: number;
}

/**
 * Bots' first loads, batched: the loads asked for within `windowMillis` of the first share one
 * statement (`ChunksRepo.ofBots`), so an api that starts under load, every bot new to it,
 * does not run a query per bot. Each bot's chunks up to `botMaxChunks`
 * (`CHUNK_MEMORY_BOT_MAX_CHUNKS`); a bot with more loads as undefined: its searches go to PostgreSQL.
 */
export function batchChunkLoads(
  chunks: Pick<ChunksRepo, 'ofBots'>,
  options: { botMaxChunks: number; windowMillis: number; maxBatch: number },
): ChunkLoad {
  const loader = new DataLoader<string, StoredChunks | undefined>(
    async (botIds) => {
      const found = await chunks.ofBots(botIds, options.botMaxChunks);
      return botIds.map((id) => found.get(id));
    },
    {
      // Each load is its own: what a bot held is the chunk memory's to keep or drop.
      cache: false,
      maxBatchSize: options.maxBatch,
      batchScheduleFn: (dispatch) => setTimeout(dispatch, options.windowMillis),
    },
  );
  return (botId) => loader.load(botId);
}

/** The chunks to rank, or undefined for a bot marked too large (or none). */
const indexOf = (entry: ChunkIndex | typeof TOO_LARGE | undefined): ChunkIndex | undefined =>
  entry && 'bytes' in entry ? entry : undefined;

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

/**
 * Bots' chunks with their embeddings, held in process so that a search (and so a chat send) is
 * ranked without a round trip: an LRU bounded in bytes, each bot loaded from PostgreSQL on its
 * first search in one query and kept until its chunks change.
 *
 * Never stale (coherent-memory.ts): every change to a bot's chunks (a source created, ingested,
 * deleted; the bot deleted), by the api or the worker, invalidates `chunksKey(bot)`, and every
 * instance drops the bot; while invalidations cannot arrive, searches go to PostgreSQL. So
 * nothing here needs a TTL. A bot with more than `botMaxChunks` chunks is remembered as too
 * large (until its chunks change) and answered by PostgreSQL's index.
 */
export function createChunkMemory(options: ChunkMemoryOptions) {
  const { loadChunks, dimension } = options;
  const memory = createCoherentMemory<ChunkIndex | typeof TOO_LARGE>({
    feed: options.feed,
    keyOf: options.chunksKey,
    lru: {
      maxSize: Math.max(1, options.maxBytes),
      sizeCalculation: (entry) => ENTRY_OVERHEAD_BYTES + (indexOf(entry)?.bytes ?? 0),
    },
    load: async (botId) => {
      const stored = await loadChunks(botId);
      return stored ? indexChunks(stored, dimension) : TOO_LARGE;
    },
  });
  let hits = 0;
  let misses = 0;

  return {
    /**
     * The bot's chunks, ready to rank; undefined when they are not to be ranked here (the bot
     * has too many, or invalidations cannot reach this process now): ask PostgreSQL. Rejects
     * when the load fails.
     */
    async chunksOf(botId: string): Promise<ChunkIndex | undefined> {
      if (!memory.listening()) return undefined;
      // Every send asks: one look-up of the LRU when the bot is held.
      const held = memory.held(botId);
      if (held) hits++;
      else misses++;
      return indexOf(held ?? (await memory.get(botId)));
    },

    /** For /metrics: bots held, their estimated bytes, and lookups answered without a load. */
    stats: (): ChunkMemoryStats => {
      const { entries, bytes } = memory.size();
      return { bots: entries, bytes, hits, misses };
    },
  };
}
