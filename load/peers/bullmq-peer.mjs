// Peer (b) of the write benchmark, the usual queue-backed design: Apollo Server 5 + Fastify
// answering `sendMessage` once the exchange is on a BullMQ queue (status QUEUED); a separate
// worker process (bullmq-worker.mjs) writes each job to PostgreSQL.
//
// Per `sendMessage`: the bearer token's session read (the shared boot); the bot's owner read in
// PostgreSQL (NOT_FOUND, FORBIDDEN); for a follow-up, the conversation's bot and starter
// (NOT_FOUND, FORBIDDEN, BAD_USER_INPUT), from Redis when this peer started the conversation,
// else from PostgreSQL; ids from randomUUID for the conversation (if new) and both messages;
// one `queue.add` (and, for a new conversation, one Redis SET beside it); the answer.
//
// A follow-up often comes before the worker has stored its conversation, so PostgreSQL cannot
// vouch for it yet: every conversation this peer hands out is recorded in Redis
// (`${REDIS_KEY_PREFIX}conversation:<id>` → "<botId> <userId>", for an hour) before its id is
// answered, and a follow-up is checked against that record.
//
// Favours the peer: it does no retrieval (a fixed reply); a retried send (the same
// `clientMessageId`) is stored once, by the worker's ON CONFLICT, but answered with new ids that
// will never be stored, where Parley answers with the stored message's.
//
// Environment: PORT (4600), DATABASE_URL, DATABASE_POOL_MAX (25), REDIS_URL
// (redis://127.0.0.1:6379), REDIS_KEY_PREFIX (parley-peer:).
// Run: PORT=4612 DATABASE_URL=postgres://… REDIS_KEY_PREFIX=peer-b: node load/peers/bullmq-peer.mjs
//      with the worker beside it (see bullmq-worker.mjs).
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { createPool, startPeer } from './apollo-fastify.mjs';
import { BULLMQ_PREFIX, JOB_NAME, KEY_PREFIX, QUEUE_NAME, REDIS_URL } from './bullmq-queue.mjs';
import {
  newExchange,
  readSendInput,
  requireOwnBot,
  requireOwnConversation,
  requireUser,
  toPayload,
  typeDefs,
} from './send-message.mjs';

const CONVERSATION_TTL_SECONDS = 3600;

const pool = createPool();
// ioredis' default maxRetriesPerRequest (20): with Redis down a send fails rather than hangs.
const redis = new IORedis(REDIS_URL);
const queue = new Queue(QUEUE_NAME, {
  connection: redis,
  prefix: BULLMQ_PREFIX,
  defaultJobOptions: {
    // About a minute of retries in all (0.5, 1, 2, … 32 s apart): a database that is restarting or
    // out of connections fails a few attempts, not the job.
    attempts: 8,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: true,
    // Kept for a look after the run (they are under the run's prefix).
    removeOnFail: false,
  },
});

const conversationKey = (id) => `${KEY_PREFIX}conversation:${id}`;

/** A conversation's `bot_id` and `owner_user_id`: recorded by this peer, else stored, else undefined. */
async function findConversation(id) {
  const recorded = await redis.get(conversationKey(id));
  if (recorded) {
    const [botId, userId] = recorded.split(' ');
    return { bot_id: botId, owner_user_id: userId };
  }
  const { rows } = await pool.query('SELECT bot_id, owner_user_id FROM conversations WHERE id = $1', [id]);
  return rows[0];
}

const resolvers = {
  Query: { ok: () => true },
  Mutation: {
    sendMessage: async (_parent, { input }, { userId }) => {
      requireUser(userId);
      const { botId, conversationId, text, clientMessageId } = readSendInput(input);
      await requireOwnBot(pool, botId, userId);
      if (conversationId)
        requireOwnConversation(await findConversation(conversationId), { conversationId, botId, userId });

      const id = conversationId ?? randomUUID();
      const { message, reply } = newExchange(text);
      await Promise.all([
        queue.add(JOB_NAME, {
          conversation: { id, botId, ownerUserId: userId },
          message: { ...message, senderId: userId, clientMessageId },
          reply,
        }),
        conversationId
          ? undefined
          : redis.set(conversationKey(id), `${botId} ${userId}`, 'EX', CONVERSATION_TTL_SECONDS),
      ]);
      return toPayload({ conversationId: id, message, reply, status: 'QUEUED' });
    },
  },
};

await startPeer({
  typeDefs,
  resolvers,
  pool,
  onStop: [() => queue.close(), () => redis.quit()],
});
