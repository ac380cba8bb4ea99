import type { Access } from '../auth/access';
import type { ChunkMatch } from '../repos/chunks';
import { requireIntInRange, requireText } from '../core/validation';
import type { Retriever } from './retriever';

export type SearchService = ReturnType<typeof createSearchService>;

export function createSearchService(deps: { access: Access; retriever: Retriever }) {
  return {
    async search(botId: string, query: string, limit: number | null | undefined): Promise<ChunkMatch[]> {
      const bot = await deps.access.ownedBot(botId);
      const text = requireText(query, 'query', { max: 1000 });
      const count = requireIntInRange(limit, 'limit', { min: 1, max: 50, fallback: 5 });
      return deps.retriever.retrieve(bot.id, text, count);
    },
  };
}
