// Peer (a) of the write benchmark, what a team builds first: Apollo Server 5 + Fastify, and
// every send written to PostgreSQL in one transaction before it is answered (PERSISTED).
//
// Per `sendMessage`: the bearer token's session read (the shared boot), then one transaction:
//   1. the bot's owner read (NOT_FOUND, FORBIDDEN);
//   2. a new conversation inserted, or the given one's `last_message_at` moved on, its bot and
//      starter returned by the same UPDATE and checked (NOT_FOUND, FORBIDDEN, BAD_USER_INPUT;
//      the transaction is then rolled back);
//   3. the user's message and the reply inserted in one statement, with the columns Parley's
//      `persistExchanges` writes (sender_id, client_message_id, reply_to, created_at);
//   4. `bots.message_count` += 2 and `last_active_at`, as Parley does.
// A `clientMessageId` this user already sent to this bot: the unique index refuses the insert,
// the transaction is rolled back and the stored message is the answer, as in Parley.
//
// Favours the peer: it does no retrieval; the reply is a fixed text, where Parley reads the bot's
// sources (pgvector) and quotes them. Input errors are Parley's (same limits and codes).
//
// Environment: PORT (4600), DATABASE_URL, DATABASE_POOL_MAX (25).
// Run: PORT=4611 DATABASE_URL=postgres://… node load/peers/direct-insert-peer.mjs
import { randomUUID } from 'node:crypto';
import { createPool, startPeer, transaction } from './apollo-fastify.mjs';
import {
  PeerError,
  newExchange,
  readSendInput,
  requireOwnBot,
  requireOwnConversation,
  requireUser,
  toPayload,
  typeDefs,
} from './send-message.mjs';

const UNIQUE_VIOLATION = '23505';

const pool = createPool();

async function store(userId, { botId, conversationId, text, clientMessageId }) {
  const { message, reply } = newExchange(text);
  const id = conversationId ?? randomUUID();
  await transaction(pool, async (client) => {
    await requireOwnBot(client, botId, userId);
    if (conversationId) {
      const { rows } = await client.query(
        `UPDATE conversations SET last_message_at = GREATEST(last_message_at, $2)
          WHERE id = $1 RETURNING bot_id, owner_user_id`,
        [id, reply.createdAt],
      );
      requireOwnConversation(rows[0], { conversationId, botId, userId });
    } else {
      await client.query(
        `INSERT INTO conversations (id, bot_id, owner_user_id, created_at, last_message_at) VALUES ($1, $2, $3, $4, $5)`,
        [id, botId, userId, message.createdAt, reply.createdAt],
      );
    }
    await client.query(
      `INSERT INTO messages (id, conversation_id, bot_id, role, content, sender_id, client_message_id, reply_to, created_at)
       VALUES ($1, $3, $4, 'USER', $5, $6, $7, NULL, $8), ($2, $3, $4, 'ASSISTANT', $9, NULL, NULL, $1, $10)`,
      [
        message.id,
        reply.id,
        id,
        botId,
        message.content,
        userId,
        clientMessageId,
        message.createdAt,
        reply.content,
        reply.createdAt,
      ],
    );
    await client.query(
      'UPDATE bots SET message_count = message_count + 2, last_active_at = GREATEST(last_active_at, $2) WHERE id = $1',
      [botId, reply.createdAt],
    );
  });
  return toPayload({ conversationId: id, message, reply, status: 'PERSISTED' });
}

/** The answer to a retried send: the message stored under its clientMessageId, and the reply to it. */
async function storedAnswer(userId, { botId, text, clientMessageId }) {
  const { rows } = await pool.query(
    `SELECT m.id, m.conversation_id, m.content, m.created_at,
            r.id AS reply_id, r.content AS reply_content, r.created_at AS reply_created_at
       FROM messages m LEFT JOIN messages r ON r.reply_to = m.id
      WHERE m.bot_id = $1 AND m.sender_id = $2 AND m.client_message_id = $3`,
    [botId, userId, clientMessageId],
  );
  const [row] = rows;
  // An idempotency key names one message: reused for another text it is a client bug.
  if (row.content !== text) {
    throw new PeerError(
      'BAD_USER_INPUT',
      'clientMessageId was already used for a different message: send a new id for a new message.',
      'clientMessageId',
    );
  }
  return toPayload({
    conversationId: row.conversation_id,
    message: { id: row.id, content: row.content, createdAt: row.created_at },
    reply: row.reply_id && { id: row.reply_id, content: row.reply_content, createdAt: row.reply_created_at },
    status: 'PERSISTED',
  });
}

const resolvers = {
  Query: { ok: () => true },
  Mutation: {
    sendMessage: async (_parent, { input }, { userId }) => {
      requireUser(userId);
      const send = readSendInput(input);
      try {
        return await store(userId, send);
      } catch (error) {
        if (error?.code === UNIQUE_VIOLATION && error.constraint === 'messages_client_message_id_idx') {
          return storedAnswer(userId, send);
        }
        throw error;
      }
    },
  },
};

await startPeer({ typeDefs, resolvers, pool });
