// The BullMQ peer's worker (peer (b), with bullmq-peer.mjs): takes the api's `send` jobs off the
// queue, BULLMQ_CONCURRENCY (50) at a time, and writes each in its own PostgreSQL transaction:
//   1. its conversation, INSERT … ON CONFLICT (id) DO NOTHING: every job carries it, since with
//      jobs run concurrently a follow-up's can run before the one that started the conversation;
//   2. the user's message, ON CONFLICT DO NOTHING: already there when the job ran before (a
//      worker died after COMMIT, before BullMQ heard of it), or refused by the unique index when
//      this sender already used its `clientMessageId`; the reply only if the message went in;
//   3. `bots.message_count` += the rows actually inserted, `last_active_at`, and the
//      conversation's `last_message_at`, as Parley does.
// So a job run twice is stored and counted once. A failed job is retried (8 attempts,
// exponential backoff from 500 ms, set by the api) and then kept in BullMQ's failed set; a job
// whose bot was deleted is not retried.
//
// Stops on SIGTERM or SIGINT once its active jobs are done.
//
// Environment: DATABASE_URL, DATABASE_POOL_MAX (25), REDIS_URL (redis://127.0.0.1:6379),
// REDIS_KEY_PREFIX (parley-peer:, the api's), BULLMQ_CONCURRENCY (50).
// Run: DATABASE_URL=postgres://… REDIS_KEY_PREFIX=peer-b: node load/peers/bullmq-worker.mjs
import { UnrecoverableError, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { createPool, stopOnSignals, transaction } from './apollo-fastify.mjs';
import { BULLMQ_PREFIX, QUEUE_NAME, REDIS_URL } from './bullmq-queue.mjs';

const FOREIGN_KEY_VIOLATION = '23503';

const concurrency = Number(process.env.BULLMQ_CONCURRENCY ?? 50);
const pool = createPool();
// A worker's blocking commands must wait for Redis as long as it takes: BullMQ requires null.
const connection = new IORedis(REDIS_URL, { maxRetriesPerRequest: null });

const MESSAGE_COLUMNS =
  'id, conversation_id, bot_id, role, content, sender_id, client_message_id, reply_to, created_at';

/** Stores one exchange; resolves to the number of messages inserted (2, or 0 if it was stored before). */
async function store({ conversation, message, reply }) {
  return transaction(pool, async (client) => {
    const created = await client.query(
      `INSERT INTO conversations (id, bot_id, owner_user_id, created_at, last_message_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [conversation.id, conversation.botId, conversation.ownerUserId, message.createdAt, reply.createdAt],
    );
    const sent = await client.query(
      `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES ($1, $2, $3, 'USER', $4, $5, $6, NULL, $7)
       ON CONFLICT DO NOTHING RETURNING id`,
      [
        message.id,
        conversation.id,
        conversation.botId,
        message.content,
        message.senderId,
        message.clientMessageId,
        message.createdAt,
      ],
    );
    if (sent.rowCount === 0) {
      // A retry under a used clientMessageId that came with a conversation of its own leaves it empty.
      if (created.rowCount === 1) await client.query('DELETE FROM conversations WHERE id = $1', [conversation.id]);
      return 0;
    }
    const answered = await client.query(
      `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES ($1, $2, $3, 'ASSISTANT', $4, NULL, NULL, $5, $6)
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [reply.id, conversation.id, conversation.botId, reply.content, message.id, reply.createdAt],
    );
    const inserted = sent.rowCount + answered.rowCount;
    await client.query(
      'UPDATE bots SET message_count = message_count + $2, last_active_at = GREATEST(last_active_at, $3) WHERE id = $1',
      [conversation.botId, inserted, reply.createdAt],
    );
    if (created.rowCount === 0) {
      await client.query('UPDATE conversations SET last_message_at = GREATEST(last_message_at, $2) WHERE id = $1', [
        conversation.id,
        reply.createdAt,
      ]);
    }
    return inserted;
  });
}

const worker = new Worker(
  QUEUE_NAME,
  async (job) => {
    try {
      return await store(job.data);
    } catch (error) {
      // The bot (and its conversations) were deleted after the send was accepted: no retry brings it back.
      if (error?.code === FOREIGN_KEY_VIOLATION) throw new UnrecoverableError(`bot gone: ${error.message}`);
      throw error;
    }
  },
  { connection, prefix: BULLMQ_PREFIX, concurrency },
);
worker.on('failed', (job, error) =>
  console.error(`job ${job?.id} failed (attempt ${job?.attemptsMade}):`, error.message),
);
worker.on('error', (error) => console.error('worker error:', error.message));
await worker.waitUntilReady();
console.log(`worker ready on queue ${BULLMQ_PREFIX}:${QUEUE_NAME}, concurrency ${concurrency}`);

// worker.close() waits for the active jobs; the connection is ours (BullMQ closes only its own).
stopOnSignals([() => worker.close(), () => connection.quit(), () => pool.end()]);
