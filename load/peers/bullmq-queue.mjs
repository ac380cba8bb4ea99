// What the BullMQ peer's api (bullmq-peer.mjs) and worker (bullmq-worker.mjs) agree on: the
// queue, the Redis it lives in, the keys' prefix, and the job.
//
// Environment: REDIS_URL (redis://127.0.0.1:6379), REDIS_KEY_PREFIX (parley-peer:).

export const QUEUE_NAME = 'sends';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Every Redis key of the peer starts with this, so a run's keys can be deleted by prefix. */
export const KEY_PREFIX = process.env.REDIS_KEY_PREFIX ?? 'parley-peer:';
/** BullMQ puts its own `:` after its prefix: the queue's keys are `${KEY_PREFIX}sends:…`. */
export const BULLMQ_PREFIX = KEY_PREFIX.replace(/:$/, '');

/**
 * A job (`queue.add('send', job)`), one exchange as JSON; the api chose every id, so a job run
 * twice writes the same rows:
 * `{ conversation: { id, botId, ownerUserId },
 *    message: { id, content, createdAt, senderId, clientMessageId },
 *    reply: { id, content, createdAt } }` (dates as ISO strings).
 */
export const JOB_NAME = 'send';
