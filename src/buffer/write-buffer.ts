import { createHash } from 'node:crypto';
import type { RedisClient } from '../platform/redis/connection';
import type { CacheKeys } from '../platform/redis/keys';
import { defineScripts } from '../platform/redis/scripts';
import { messageStatusChannel, type MessageStatusEvent } from '../pubsub/message-status-pubsub';
import { decodeIntent, encodeIntent, intentId, type Intent } from './intent';
import { createReplicaWaiter } from './replica-wait';

/** How long a clientMessageId is remembered in Redis: a retry within it gets the first answer. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/**
 * A conversation's queued intents are kept for read-your-writes; the hash empties as they
 * are flushed. The TTL only bounds what an intent lost outside the scripts could leave behind.
 */
const CONVERSATION_TTL_SECONDS = 7 * 24 * 60 * 60;

/** What a sender learns of a dead-lettered message (status FAILED); the cause stays in the dead letter. */
export const DEAD_LETTER_MESSAGE = 'This message could not be stored.';

export type PushResult =
  | { kind: 'QUEUED'; depth: number }
  | { kind: 'DUPLICATE'; first: Intent }
  | { kind: 'FULL'; depth: number }
  /** Queued, but fewer replicas than asked took it in time: not to be acknowledged from the buffer alone. */
  | { kind: 'UNREPLICATED'; replicas: number };

/** A message the buffer still holds: queued, or failed and dead-lettered. */
export interface BufferedStatus {
  conversationId: string;
  status: 'QUEUED' | 'FAILED';
  error: string | null;
}

export interface DeadLetter {
  id: string;
  /** The claimed JSON, as it was: replayed as is when it parses. */
  raw: string;
  error: string;
  attempts: number;
  failedAt: string;
}

export interface BufferStats {
  depth: number;
  /** Age of the next intent to be claimed, ms; 0 when none waits. */
  oldestAgeMillis: number;
  /** Age of the oldest intent a worker holds and has not stored yet, ms; 0 when none is held. */
  oldestInFlightAgeMillis: number;
  inFlightClaims: number;
  inFlightIntents: number;
  deadLetters: number;
  flushedTotal: number;
  /** Intents flushed per second over the last 10 s. */
  flushRate: number;
  /** The last flush's oldest intent: how long it waited from push to COMMIT, ms. */
  lagMillis: number;
  /** When the last flush committed, ISO; null before the first. */
  lastFlushAt: string | null;
}

/**
 * Redis at `maxmemory` with noeviction refusing a command that may grow memory (`OOM command
 * not allowed when used memory > 'maxmemory'`), as a reply or from inside a script.
 */
export function isRedisOutOfMemory(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('OOM ');
}

const idempotencyHash = (intent: Intent, clientMessageId: string) =>
  createHash('sha256')
    .update(`${intent.conversation.botId}\n${intent.message.senderId}\n${clientMessageId}`)
    .digest('hex');

export type WriteBuffer = ReturnType<typeof createWriteBuffer>;

/**
 * The write buffer's Redis side, for the api (push, read-your-writes, statuses), the worker
 * (claim, acknowledge, retry, dead-letter, return) and operators (dead letters, stats).
 * Every change of state is one script (src/platform/redis/lua/buffer-*.lua): one atomic step
 * of an intent's life, so no crash between two Redis calls can lose or duplicate one. All keys
 * share the `{buffer}` hash tag (keys.ts).
 */
export function createWriteBuffer(deps: {
  redis: RedisClient;
  keys: CacheKeys;
  maxDepth: number;
  /** Replicas that must hold a pushed intent (Redis WAIT) within `replicaTimeoutMillis`; default 0. */
  minReplicas?: number;
  replicaTimeoutMillis?: number;
  /** The clock intents' ages are read against; default Date.now. */
  now?: () => number;
}) {
  const { redis } = deps;
  const minReplicas = deps.minReplicas ?? 0;
  const now = deps.now ?? Date.now;
  const keys = deps.keys.buffer;
  const scripts = defineScripts(redis);
  const replicated =
    minReplicas > 0
      ? createReplicaWaiter({
          redis,
          key: keys.pending(),
          replicas: minReplicas,
          timeoutMillis: deps.replicaTimeoutMillis ?? 100,
        })
      : undefined;
  const idempotencyKey = (intent: Intent) =>
    intent.message.clientMessageId
      ? keys.idempotency(idempotencyHash(intent, intent.message.clientMessageId))
      : keys.idempotency('none');

  const parseStatuses = (
    ids: readonly string[],
    queued: (string | null)[],
    failed: (string | null)[],
  ): Map<string, BufferedStatus> => {
    const statuses = new Map<string, BufferedStatus>();
    ids.forEach((id, i) => {
      const failure = failed[i];
      const conversationId = queued[i];
      if (failure) {
        const parsed = JSON.parse(failure) as { conversationId: string; error: string };
        statuses.set(id, { conversationId: parsed.conversationId, status: 'FAILED', error: parsed.error });
      } else if (conversationId) {
        statuses.set(id, { conversationId, status: 'QUEUED', error: null });
      }
    });
    return statuses;
  };

  async function statuses(ids: readonly string[]): Promise<Map<string, BufferedStatus>> {
    if (ids.length === 0) return new Map();
    const [queued, failed] = await Promise.all([
      redis.hmget(keys.queued(), ...ids),
      redis.hmget(keys.failed(), ...ids),
    ]);
    return parseStatuses(ids, queued, failed);
  }

  return {
    /** The acknowledgement: once this resolves QUEUED, the intent is Redis' to keep until a worker flushes it. */
    async push(intent: Intent): Promise<PushResult> {
      const json = encodeIntent(intent);
      const [kind, value] = (await scripts.bufferPush(
        keys.pending(),
        keys.queued(),
        keys.conversation(intent.conversation.id),
        idempotencyKey(intent),
        json,
        intentId(intent),
        intent.reply.id,
        intent.conversation.id,
        deps.maxDepth,
        intent.message.clientMessageId ? '1' : '0',
        IDEMPOTENCY_TTL_SECONDS,
        CONVERSATION_TTL_SECONDS,
        messageStatusChannel(deps.keys.prefix, intent.conversation.id),
        ...[intent.message.id, intent.reply.id].map((messageId) =>
          JSON.stringify({
            messageId,
            conversationId: intent.conversation.id,
            status: 'QUEUED',
            error: null,
          } satisfies MessageStatusEvent),
        ),
      )) as [string, string | number];
      if (kind === 'DUPLICATE') return { kind, first: decodeIntent(String(value)) };
      if (kind === 'QUEUED' && replicated) {
        const replicas = await replicated();
        if (replicas < minReplicas) return { kind: 'UNREPLICATED', replicas };
      }
      return { kind: kind as 'QUEUED' | 'FULL', depth: Number(value) };
    },

    /** Statuses of the messages the buffer holds; ids it does not hold are left out (PostgreSQL knows them, or nobody). */
    statuses,

    /** A conversation's intents still in the buffer (queued or failed), with each message's status. */
    async conversationIntents(conversationId: string): Promise<{ intent: Intent; status: BufferedStatus }[]> {
      const raws = await redis.hvals(keys.conversation(conversationId));
      if (raws.length === 0) return [];
      const intents = raws.map(decodeIntent);
      const found = await statuses(intents.map(intentId));
      return intents.flatMap((intent) => {
        const status = found.get(intentId(intent));
        // Neither queued nor failed: flushed between the two reads, so PostgreSQL has it.
        return status ? [{ intent, status }] : [];
      });
    },

    /** The first intent of each conversation the buffer holds, by conversation id. */
    async conversations(conversationIds: readonly string[]): Promise<Map<string, Intent>> {
      const found = new Map<string, Intent>();
      // Any one intent names the conversation: a random field is O(1) however large the hash.
      const picks = await Promise.all(
        conversationIds.map((id) => redis.hrandfield(keys.conversation(id), 1, 'WITHVALUES') as Promise<string[]>),
      );
      conversationIds.forEach((id, i) => {
        const value = picks[i]?.[1];
        if (value) found.set(id, decodeIntent(value));
      });
      return found;
    },

    // --- worker -------------------------------------------------------------------------

    /** Tops the claim up to `max` intents and renews its lease; returns every intent it holds. */
    claim: (claimId: string, max: number, leaseMillis: number) =>
      scripts.bufferClaim(keys.pending(), keys.claim(claimId), keys.claims(), max, leaseMillis, claimId) as Promise<
        string[]
      >,

    /**
     * Waits up to `timeoutSeconds` for one intent and moves it into the claim, on a connection
     * of its own (a blocking command holds it). The lease must be registered first (`claim`).
     * A full Redis refuses it (BLMOVE may grow memory; see isRedisOutOfMemory).
     */
    waitForIntent: (blocking: RedisClient, claimId: string, timeoutSeconds: number) =>
      blocking.blmove(keys.pending(), keys.claim(claimId), 'RIGHT', 'LEFT', timeoutSeconds),

    /** Whether the lease is still this worker's (false: the reaper gave the claim back). */
    renew: async (claimId: string, leaseMillis: number) =>
      (await scripts.bufferRenew(keys.claims(), claimId, leaseMillis)) === 1,

    /** After COMMIT: the intents leave the claim and the indexes. */
    async acknowledge(claimId: string, done: { raw: string; intent: Intent }[], lagMillis: number): Promise<number> {
      if (done.length === 0) return 0;
      return (await scripts.bufferAck(
        3 + done.length,
        keys.claim(claimId),
        keys.queued(),
        keys.stats(),
        ...done.map(({ intent }) => keys.conversation(intent.conversation.id)),
        Math.round(lagMillis),
        ...done.flatMap(({ raw, intent }) => [raw, intentId(intent), intent.reply.id]),
      )) as number;
    },

    /** Back to the pending list after a failed attempt, counted. */
    requeue: async (claimId: string, raw: string, intent: Intent) =>
      (await scripts.bufferRequeue(
        keys.claim(claimId),
        keys.pending(),
        raw,
        encodeIntent({ ...intent, attempts: intent.attempts + 1 }),
      )) === 1,

    /** To the dead letters; `intent` is undefined when `raw` could not even be read. */
    async deadLetter(
      claimId: string,
      raw: string,
      intent: Intent | undefined,
      error: string,
      failedAt: Date,
    ): Promise<boolean> {
      const id = intent
        ? intentId(intent)
        : `unreadable-${createHash('sha256').update(raw).digest('hex').slice(0, 32)}`;
      const entry: DeadLetter = {
        id,
        raw,
        error,
        attempts: intent ? intent.attempts + 1 : 1,
        failedAt: failedAt.toISOString(),
      };
      return (
        (await scripts.bufferDeadLetter(
          keys.claim(claimId),
          keys.dead(),
          keys.queued(),
          keys.failed(),
          intent ? idempotencyKey(intent) : keys.idempotency('none'),
          raw,
          id,
          JSON.stringify(entry),
          intent ? intentId(intent) : '',
          intent ? intent.reply.id : '',
          intent?.message.clientMessageId ? '1' : '0',
          // The sender sees a plain sentence; the cause (a database error) is the operator's.
          JSON.stringify({ conversationId: intent?.conversation.id ?? '', error: DEAD_LETTER_MESSAGE }),
        )) === 1
      );
    },

    /** Gives a claim's intents back; with `onlyIfExpired`, only once its lease has run out (-1 otherwise). */
    returnClaim: async (claimId: string, onlyIfExpired: boolean) =>
      (await scripts.bufferReturn(
        keys.claims(),
        keys.claim(claimId),
        keys.pending(),
        claimId,
        onlyIfExpired ? '1' : '0',
      )) as number,

    /** Claims whose lease ran out by Redis' clock: their workers are gone or stuck. */
    async expiredClaims(): Promise<string[]> {
      const [seconds, micros] = await redis.time();
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      return redis.zrangebyscore(keys.claims(), '-inf', now);
    },

    // --- operators -----------------------------------------------------------------------

    async deadLetters(): Promise<DeadLetter[]> {
      const entries = await redis.hvals(keys.dead());
      return entries
        .map((entry) => JSON.parse(entry) as DeadLetter)
        .sort((a, b) => a.failedAt.localeCompare(b.failedAt));
    },

    async findDeadLetter(id: string): Promise<DeadLetter | undefined> {
      const entry = await redis.hget(keys.dead(), id);
      return entry ? (JSON.parse(entry) as DeadLetter) : undefined;
    },

    /** Sends a dead letter through the buffer again, attempts reset; false when there is none by that id. */
    async replay(letter: DeadLetter): Promise<boolean> {
      const intent = decodeIntent(letter.raw);
      const json = encodeIntent({ ...intent, attempts: 0 });
      return (
        (await scripts.bufferReplay(
          keys.dead(),
          keys.pending(),
          keys.queued(),
          keys.failed(),
          keys.conversation(intent.conversation.id),
          letter.id,
          json,
          intent.reply.id,
          intent.conversation.id,
          CONVERSATION_TTL_SECONDS,
        )) === 1
      );
    },

    async drop(letter: DeadLetter): Promise<boolean> {
      let intent: Intent | undefined;
      try {
        intent = decodeIntent(letter.raw);
      } catch {
        intent = undefined;
      }
      return (
        (await scripts.bufferDrop(
          keys.dead(),
          keys.failed(),
          intent ? keys.conversation(intent.conversation.id) : keys.conversation('none'),
          letter.id,
          intent ? intentId(intent) : '',
          intent ? intent.reply.id : '',
        )) === 1
      );
    },

    async stats(): Promise<BufferStats> {
      const [depth, oldest, deadLetters, flatStats, held, claimedOldest] = (await scripts.bufferStats(
        keys.pending(),
        keys.claims(),
        keys.dead(),
        keys.stats(),
        keys.claim(''),
      )) as [number, string | null, number, string[], number[], (string | null)[]];
      const stats: Record<string, string> = {};
      for (let i = 0; i + 1 < flatStats.length; i += 2) stats[flatStats[i]!] = flatStats[i + 1]!;
      const [seconds] = await redis.time();
      const nowSeconds = Number(seconds);
      let recent = 0;
      for (let second = nowSeconds - 10; second < nowSeconds; second++) recent += Number(stats[`s:${second}`] ?? 0);
      const at = now();
      // An unreadable intent has no age: it is dead-lettered as soon as a worker reads it.
      const ageOf = (raw: string | null) => {
        if (!raw) return 0;
        try {
          return Math.max(0, at - decodeIntent(raw).enqueuedAt);
        } catch {
          return 0;
        }
      };
      return {
        depth,
        oldestAgeMillis: ageOf(oldest),
        oldestInFlightAgeMillis: Math.max(0, ...claimedOldest.map(ageOf)),
        inFlightClaims: held.filter((count) => count > 0).length,
        inFlightIntents: held.reduce((sum, count) => sum + count, 0),
        deadLetters,
        flushedTotal: Number(stats.flushed ?? 0),
        flushRate: recent / 10,
        lagMillis: Number(stats.lagMillis ?? 0),
        lastFlushAt: stats.lastFlushAt ? new Date(Number(stats.lastFlushAt) * 1000).toISOString() : null,
      };
    },
  };
}
