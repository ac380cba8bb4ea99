import type { Db, Executor } from '../clients/postgres';
import { isUniqueViolation } from '../db/pg-errors';
import type { ConversationRecord, MessageRecord, MessageRole } from './records';

interface MessageRow {
  id: string;
  conversation_id: string;
  bot_id: string;
  role: MessageRole;
  content: string;
  created_at: Date;
}

const COLUMNS = ['id', 'conversation_id', 'bot_id', 'role', 'content', 'created_at'];

// Rows in PostgreSQL are persisted by definition; QUEUED messages live in the write buffer.
const toRecord = (row: MessageRow): MessageRecord => ({
  id: row.id,
  conversationId: row.conversation_id,
  botId: row.bot_id,
  role: row.role,
  content: row.content,
  status: 'PERSISTED',
  createdAt: row.created_at,
});

export interface NewMessage {
  id: string;
  role: MessageRole;
  content: string;
  createdAt: Date;
  senderId?: string;
  clientMessageId?: string;
  replyTo?: string;
}

/** A user's message and the bot's reply, written together. */
export interface Exchange {
  conversation: Pick<ConversationRecord, 'id' | 'botId' | 'ownerUserId' | 'visitorId'>;
  message: NewMessage;
  reply: NewMessage;
}

/** A retried send: the clientMessageId was already stored for this sender. */
export class DuplicateClientMessageError extends Error {
  override readonly name = 'DuplicateClientMessageError';
}

export type MessagesRepo = ReturnType<typeof createMessagesRepo>;

export function createMessagesRepo(db: Db) {
  const toRow = (exchange: Exchange, message: NewMessage) => ({
    id: message.id,
    conversation_id: exchange.conversation.id,
    bot_id: exchange.conversation.botId,
    role: message.role,
    content: message.content,
    sender_id: message.senderId ?? null,
    client_message_id: message.clientMessageId ?? null,
    reply_to: message.replyTo ?? null,
    created_at: message.createdAt,
  });

  return {
    /**
     * Writes both messages, creating the conversation on first use and bumping the
     * bot's counters, in one transaction. Ids are assigned by the api, so a replay of
     * the same exchange (e.g. a write buffer draining after a fail-over) is a no-op.
     */
    async insertExchange(exchange: Exchange, executor: Executor = db): Promise<void> {
      const { conversation } = exchange;
      try {
        await executor.transaction(async (trx) => {
          await trx('conversations')
            .insert({
              id: conversation.id,
              bot_id: conversation.botId,
              owner_user_id: conversation.ownerUserId,
              visitor_id: conversation.visitorId,
              created_at: exchange.message.createdAt,
            })
            .onConflict('id')
            .ignore();
          const inserted = await trx('messages')
            .insert([toRow(exchange, exchange.message), toRow(exchange, exchange.reply)])
            .onConflict('id')
            .ignore()
            .returning('id');
          if (inserted.length === 0) return;
          await trx('conversations')
            .where({ id: conversation.id })
            .update({ last_message_at: exchange.reply.createdAt });
          await trx('bots')
            .where({ id: conversation.botId })
            .update({
              message_count: trx.raw('message_count + ?', [inserted.length]),
              last_active_at: exchange.reply.createdAt,
            });
        });
      } catch (error: unknown) {
        if (isUniqueViolation(error, 'messages_client_message_id_idx')) {
          throw new DuplicateClientMessageError(exchange.message.clientMessageId);
        }
        throw error;
      }
    },

    /** The stored message for a retried send and the reply to it. */
    async findByClientMessageId(
      key: { botId: string; senderId: string; clientMessageId: string },
      executor: Executor = db,
    ): Promise<{ message: MessageRecord; reply: MessageRecord | undefined } | undefined> {
      const message: MessageRow | undefined = await executor('messages')
        .where({ bot_id: key.botId, sender_id: key.senderId, client_message_id: key.clientMessageId })
        .first(COLUMNS);
      if (!message) return undefined;
      const reply: MessageRow | undefined = await executor('messages').where({ reply_to: message.id }).first(COLUMNS);
      return { message: toRecord(message), reply: reply && toRecord(reply) };
    },

    /** The last `last` messages of a conversation, oldest first. */
    async listLast(conversationId: string, last: number, executor: Executor = db): Promise<MessageRecord[]> {
      const rows: MessageRow[] = await executor('messages')
        .select(COLUMNS)
        .where({ conversation_id: conversationId })
        .orderBy([
          { column: 'created_at', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .limit(last);
      return rows.reverse().map(toRecord);
    },

    async findByIds(ids: readonly string[], executor: Executor = db): Promise<MessageRecord[]> {
      const rows = await executor('messages')
        .select<MessageRow[]>(COLUMNS)
        .whereIn('id', ids as string[]);
      return rows.map(toRecord);
    },
  };
}
