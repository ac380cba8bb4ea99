import type { BotRecord, SourceRecord } from '../repos/records';
import type { CacheKeys } from '../platform/redis/keys';

/**
 * What changed, in the domain's words, called after the change committed; which cache keys
 * that touches is decided here and nowhere else. The rollback mode's implementation does
 * nothing.
 */
export interface CacheInvalidation {
  botCreated(bot: Pick<BotRecord, 'id' | 'ownerId'>): Promise<void>;
  botUpdated(bot: Pick<BotRecord, 'id' | 'ownerId'>): Promise<void>;
  /** `sourceIds`: the bot's sources, deleted with it by the cascade. */
  botDeleted(bot: Pick<BotRecord, 'id' | 'ownerId'>, sourceIds: string[]): Promise<void>;
  sourceCreated(source: Pick<SourceRecord, 'id' | 'botId'>): Promise<void>;
  /** Status, error or chunks changed (the worker). */
  sourceChanged(source: Pick<SourceRecord, 'id' | 'botId'>): Promise<void>;
  sourceDeleted(source: Pick<SourceRecord, 'id' | 'botId'>): Promise<void>;
  userChanged(userId: string): Promise<void>;
}

export const noCacheInvalidation: CacheInvalidation = {
  botCreated: async () => undefined,
  botUpdated: async () => undefined,
  botDeleted: async () => undefined,
  sourceCreated: async () => undefined,
  sourceChanged: async () => undefined,
  sourceDeleted: async () => undefined,
  userChanged: async () => undefined,
};

export function createCacheInvalidation(deps: {
  keys: CacheKeys;
  /** Drops keys everywhere (Redis, every L1); never throws. */
  invalidate(keys: string[]): Promise<void>;
  /** Makes the bot's cached search results unreachable (O(1): a version bump); never throws. */
  bumpVectorVersion?(botId: string): Promise<void>;
}): CacheInvalidation {
  const { keys, invalidate } = deps;
  const searchesChanged = (botId: string) => deps.bumpVectorVersion?.(botId) ?? Promise.resolve();
  return {
    botCreated: (bot) => invalidate([keys.botsByUser(bot.ownerId)]),
    botUpdated: (bot) => invalidate([keys.bot(bot.id)]),
    async botDeleted(bot, sourceIds) {
      await Promise.all([
        invalidate([
          keys.bot(bot.id),
          keys.botsByUser(bot.ownerId),
          keys.sourcesByBot(bot.id),
          keys.botChunks(bot.id),
          ...sourceIds.map(keys.source),
        ]),
        searchesChanged(bot.id),
      ]);
    },
    async sourceCreated(source) {
      await Promise.all([
        invalidate([keys.sourcesByBot(source.botId), keys.botChunks(source.botId)]),
        searchesChanged(source.botId),
      ]);
    },
    async sourceChanged(source) {
      await Promise.all([
        invalidate([keys.source(source.id), keys.botChunks(source.botId)]),
        searchesChanged(source.botId),
      ]);
    },
    async sourceDeleted(source) {
      await Promise.all([
        invalidate([keys.source(source.id), keys.sourcesByBot(source.botId), keys.botChunks(source.botId)]),
        searchesChanged(source.botId),
      ]);
    },
    userChanged: (userId) => invalidate([keys.user(userId)]),
  };
}
