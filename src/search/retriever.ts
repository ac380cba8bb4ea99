import type { ChunkMatch, ChunksRepo } from '../repos/chunks';
import type { Embedder } from './embedder';

export type Retriever = ReturnType<typeof createRetriever>;

/** Query text in, the bot's nearest chunks out. */
export function createRetriever(deps: { embedder: Embedder; chunks: ChunksRepo }) {
  return {
    async retrieve(botId: string, query: string, limit: number): Promise<ChunkMatch[]> {
      const [embedding] = await deps.embedder.embed([query]);
      // A query of only stop words or symbols embeds to zero, which has no direction to compare.
      if (!embedding || embedding.every((x) => x === 0)) return [];
      return deps.chunks.nearest(botId, embedding, limit);
    },
  };
}
