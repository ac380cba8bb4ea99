import type { Db, Executor } from '../platform/postgres/connection';
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

/**
 * What became of one exchange in `persistExchanges`: stored (now or by an earlier attempt:
 * ids are assigned by the api, so a replay is a no-op), dropped as a retry whose
 * clientMessageId this sender had already used, or dropped because its bot was deleted
 * (its conversations went with it).
 */
export type PersistOutcome = 'STORED' | 'DUPLICATE' | 'BOT_GONE';

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

  const latest = (a: Date | undefined, b: Date) => (a && a > b ? a : b);

  return {
    /**
     * Stores exchanges in one transaction with a fixed number of statements, however many
     * there are: the write buffer flushes a hundred at a time, the direct path one. Counters
     * (the bot's message count and last activity, the conversation's last message) are
     * added up from the rows actually inserted, in one update per table, so a replayed
     * exchange never counts twice. A retry under an already used clientMessageId is settled
     * by the unique index, not by a look-up first: concurrent retries cannot both win.
     */
    async persistExchanges(exchanges: readonly Exchange[], executor: Executor = db): Promise<PersistOutcome[]> {
      if (exchanges.length === 0) return [];
      return executor.transaction(async (trx) => {
        // Locked in id order, which also orders the counter updates below across workers,
        // and keeps the bots from being deleted under this transaction.
        const botIds = [...new Set(exchanges.map((exchange) => exchange.conversation.botId))].sort();
        const liveBots = new Set(
          (await trx('bots').whereIn('id', botIds).orderBy('id').forNoKeyUpdate().select('id')).map(
            (row: { id: string }) => row.id,
          ),
        );
        // By message id: the same exchange twice in one call (an intent pushed twice) is stored and counted once.
        const outcomes = new Map<string, PersistOutcome>();
        const live: Exchange[] = [];
        for (const exchange of exchanges) {
          if (outcomes.has(exchange.message.id)) continue;
          const alive = liveBots.has(exchange.conversation.botId);
          outcomes.set(exchange.message.id, alive ? 'STORED' : 'BOT_GONE');
          if (alive) live.push(exchange);
        }
        const outcomeOf = (exchange: Exchange) => outcomes.get(exchange.message.id)!;
        if (live.length === 0) return exchanges.map(outcomeOf);

        const conversations = new Map(live.map((exchange) => [exchange.conversation.id, exchange]));
        const newConversations = new Set<string>(
          (
            await trx('conversations')
              .insert(
                [...conversations.values()].map(({ conversation, message }) => ({
                  id: conversation.id,
                  bot_id: conversation.botId,
                  owner_user_id: conversation.ownerUserId,
                  visitor_id: conversation.visitorId,
                  created_at: message.createdAt,
                })),
              )
              .onConflict('id')
              .ignore()
              .returning('id')
          ).map((row: { id: string }) => row.id),
        );
        // No conflict target: an id already stored (a replay) and a clientMessageId already
        // used by this sender (a retry) are both skipped, and told apart below.
        const insertedMessages = new Set<string>(
          (
            await trx('messages')
              .insert(live.map((exchange) => toRow(exchange, exchange.message)))
              .onConflict()
              .ignore()
              .returning('id')
          ).map((row: { id: string }) => row.id),
        );
        const answered = live.filter((exchange) => insertedMessages.has(exchange.message.id));
        const insertedReplies = new Set<string>(
          answered.length === 0
            ? []
            : (
                await trx('messages')
                  .insert(answered.map((exchange) => toRow(exchange, exchange.reply)))
                  .onConflict('id')
                  .ignore()
                  .returning('id')
              ).map((row: { id: string }) => row.id),
        );

        const skipped = live.filter((exchange) => !insertedMessages.has(exchange.message.id));
        if (skipped.length > 0) {
          const stored = new Set(
            (
              await trx('messages')
                .whereIn(
                  'id',
                  skipped.map((exchange) => exchange.message.id),
                )
                .select('id')
            ).map((row: { id: string }) => row.id),
          );
          for (const exchange of skipped) {
            if (!stored.has(exchange.message.id)) outcomes.set(exchange.message.id, 'DUPLICATE');
          }
          // A retry that opened a conversation of its own leaves it empty: it goes too.
          const used = new Set(answered.map((exchange) => exchange.conversation.id));
          const empty = skipped
            .filter((exchange) => outcomeOf(exchange) === 'DUPLICATE')
            .map((exchange) => exchange.conversation.id)
            .filter((id) => newConversations.has(id) && !used.has(id));
          if (empty.length > 0) await trx('conversations').whereIn('id', empty).delete();
        }

        const perBot = new Map<string, { count: number; at: Date }>();
        const perConversation = new Map<string, Date>();
        for (const exchange of answered) {
          const { botId, id } = exchange.conversation;
          const count = 1 + (insertedReplies.has(exchange.reply.id) ? 1 : 0);
          const bot = perBot.get(botId);
          perBot.set(botId, { count: (bot?.count ?? 0) + count, at: latest(bot?.at, exchange.reply.createdAt) });
          perConversation.set(id, latest(perConversation.get(id), exchange.reply.createdAt));
        }
        if (perBot.size > 0) {
          const bots = [...perBot.entries()].sort(([a], [b]) => a.localeCompare(b));
          await trx.raw(
            `UPDATE bots SET message_count = bots.message_count + v.n,
                             last_active_at = GREATEST(bots.last_active_at, v.at)
               FROM unnest(?::uuid[], ?::int[], ?::timestamptz[]) AS v(id, n, at)
              WHERE bots.id = v.id`,
            [bots.map(([id]) => id), bots.map(([, v]) => v.count), bots.map(([, v]) => v.at)],
          );
          const conversationsTouched = [...perConversation.entries()].sort(([a], [b]) => a.localeCompare(b));
          await trx.raw(
            `UPDATE conversations SET last_message_at = GREATEST(conversations.last_message_at, v.at)
               FROM unnest(?::uuid[], ?::timestamptz[]) AS v(id, at)
              WHERE conversations.id = v.id`,
            [conversationsTouched.map(([id]) => id), conversationsTouched.map(([, at]) => at)],
          );
        }
        return exchanges.map(outcomeOf);
      });
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
