import type { ChunkMatch } from '../repos/chunks';
import type { ChunkMemory } from './chunk-memory';
import { rankChunks } from './chunk-ranking';
import type { Embedder } from './embedder';
import type { Retriever } from './retriever';

/**
 * The retriever a process with a chunk memory uses: a bot whose chunks are in memory (or are
 * loaded now, once) is ranked here, exactly and with no round trip, so a chat send waits on no
 * database and no cache; any other search (a bot too large to hold, or invalidations not
 * reaching this process) goes to `fallback`, the vector cache over PostgreSQL.
 */
export function createMemoryRetriever(deps: {
  embedder: Embedder;
  memory: ChunkMemory;
  fallback: Retriever;
}): Retriever {
  const { embedder, memory, fallback } = deps;
  return {
    async retrieve(botId: string, query: string, limit: number): Promise<ChunkMatch[]> {
      const index = await memory.chunksOf(botId);
      if (!index) return fallback.retrieve(botId, query, limit);
      const [embedding] = await embedder.embed([query]);
      return embedding ? rankChunks(index, embedding, limit) : [];
    },
  };
}
