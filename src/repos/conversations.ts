import type { Db, Executor } from '../platform/postgres/connection';
import type { ConversationRecord } from './records';

interface ConversationRow {
  id: string;
  bot_id: string;
  owner_user_id: string | null;
  visitor_id: string | null;
  created_at: Date;
  last_message_at: Date | null;
}

const toRecord = (row: ConversationRow): ConversationRecord => ({
  id: row.id,
  botId: row.bot_id,
  ownerUserId: row.owner_user_id,
  visitorId: row.visitor_id,
  createdAt: row.created_at,
  lastMessageAt: row.last_message_at,
});

export type ConversationsRepo = ReturnType<typeof createConversationsRepo>;

export function createConversationsRepo(db: Db) {
  return {
    async findByIds(ids: readonly string[], executor: Executor = db): Promise<ConversationRecord[]> {
      const rows = await executor<ConversationRow>('conversations').whereIn('id', ids as string[]);
      return rows.map(toRecord);
    },

    /** A bot's conversations, most recently active first (the bot_id index, then a sort of that bot's). */
    async listByBot(botId: string, first: number, executor: Executor = db): Promise<ConversationRecord[]> {
      const rows = await executor<ConversationRow>('conversations')
        .where({ bot_id: botId })
        .orderByRaw('last_message_at DESC NULLS LAST, id DESC')
        .limit(first);
      return rows.map(toRecord);
    },
  };
}
