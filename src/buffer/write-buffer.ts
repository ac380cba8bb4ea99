import { createHash } from 'node:crypto';
import type { RedisClient } from '../platform/redis/connection';
import type { CacheKeys } from '../platform/redis/keys';
import { defineScripts } from '../platform/redis/scripts';
import { messageStatusChannel, type MessageStatusEvent } from '../pubsub/message-status-pubsub';
import { decodeIntent, encodeIntent, intentId, InvalidIntentError, type Intent } from './intent';
import { groupBy } from '../core/group-by';
import { createReplicaWaiter } from './replica-wait';
import { adoptBufferLayout } from './layout';
import type { BufferShards } from './shards';

/** How long a clientMessageId is remembered in Redis: a retry within it gets the first answer. */
const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

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

/** What a dead letter holds, as stored. */
interface DeadLetterEntry {
  id: string;
  /** The claimed JSON, as it was: replayed as is when it parses. */
  raw: string;
  error: string;
  attempts: number;
  failedAt: string;
}

/** A dead letter and the shard that holds it. */
export interface DeadLetter extends DeadLetterEntry {
  shard: number;
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

/** The whole buffer's figures (summed; ages and the last flush are the latest of any shard), and each shard's. */
export interface ShardedBufferStats extends BufferStats {
  shards: (BufferStats & { shard: number })[];
}

/** How many intents one shard's pending list may hold: its share of BUFFER_MAX_DEPTH. */
export const shardDepthLimit = (maxDepth: number, shards: number) => Math.ceil(maxDepth / shards);

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
 * of an intent's life, so no crash between two Redis calls can lose or duplicate one.
 *
 * The buffer is split into shards (src/buffer/shards.ts), each with its own hash tag and so
 * its own slot: a script touches one shard. The api finds an intent's shard from its
 * conversation's id, and a message's from its own id; the worker's and operators' calls name
 * the shard they act on.
 */
export function createWriteBuffer(deps: {
  redis: RedisClient;
  keys: CacheKeys;
  shards: BufferShards;
  /** Intents the whole buffer may hold; each shard refuses sends beyond its share. */
  maxDepth: number;
  /** Replicas that must hold a pushed intent (Redis WAIT) within `replicaTimeoutMillis`; default 0. */
  minReplicas?: number;
  replicaTimeoutMillis?: number;
  /** The clock intents' ages are read against; default Date.now. */
  now?: () => number;
}) {
  const { redis, shards } = deps;
  const minReplicas = deps.minReplicas ?? 0;
  const now = deps.now ?? Date.now;
  const shardKeys = shards.tags.map((tag) => deps.keys.bufferShard(tag));
  const keysOf = (shard: number) => {
    const keys = shardKeys[shard];
    if (!keys) throw new RangeError(`The write buffer has no shard ${shard} (it has ${shards.count}).`);
    return keys;
  };
  const scripts = defineScripts(redis);
  // A WAIT covers the writes of one master: each shard waits on its own.
  const replicated =
    minReplicas > 0
      ? shardKeys.map((keys) =>
          createReplicaWaiter({
            redis,
            key: keys.pending(),
            replicas: minReplicas,
            timeoutMillis: deps.replicaTimeoutMillis ?? 100,
          }),
        )
      : [];
  const idempotencyKey = (shard: number, intent: Intent) =>
    intent.message.clientMessageId
      ? keysOf(shard).idempotency(idempotencyHash(intent, intent.message.clientMessageId))
      : keysOf(shard).idempotency('none');
  const allShards = Array.from({ length: shards.count }, (_, shard) => shard);

  const parseStatus = (conversationId: string | null, failure: string | null): BufferedStatus | undefined => {
    if (failure) {
      const parsed = JSON.parse(failure) as { conversationId: string; error: string };
      return { conversationId: parsed.conversationId, status: 'FAILED', error: parsed.error };
    }
    return conversationId ? { conversationId, status: 'QUEUED', error: null } : undefined;
  };

  /** The statuses `shard` holds for `ids`. */
  async function statusesIn(shard: number, ids: readonly string[], into: Map<string, BufferedStatus>): Promise<void> {
    const keys = keysOf(shard);
    const [queued, failed] = await Promise.all([
      redis.hmget(keys.queued(), ...ids),
      redis.hmget(keys.failed(), ...ids),
    ]);
    ids.forEach((id, i) => {
      const status = parseStatus(queued[i] ?? null, failed[i] ?? null);
      if (status) into.set(id, status);
    });
  }

  /** Each id's status, from the shard its id names: one pair of HMGETs per shard the ids fall in. */
  async function statuses(ids: readonly string[]): Promise<Map<string, BufferedStatus>> {
    const found = new Map<string, BufferedStatus>();
    await Promise.all([...groupBy(ids, shards.ofId)].map(([shard, group]) => statusesIn(shard, group, found)));
    return found;
  }

  const readDeadLetter = (shard: number, entry: string): DeadLetter => ({
    ...(JSON.parse(entry) as DeadLetterEntry),
    shard,
  });

  async function shardStats(shard: number, at: number, nowSeconds: number): Promise<BufferStats> {
    const keys = keysOf(shard);
    const [depth, oldest, deadLetters, flatStats, held, claimedOldest] = (await scripts.bufferStats(
      keys.pending(),
      keys.claims(),
      keys.dead(),
      keys.stats(),
      keys.claim(''),
    )) as [number, string | null, number, string[], number[], (string | null)[]];
    const stats: Record<string, string> = {};
    for (let i = 0; i + 1 < flatStats.length; i += 2) stats[flatStats[i]!] = flatStats[i + 1]!;
    let recent = 0;
    for (let second = nowSeconds - 10; second < nowSeconds; second++) recent += Number(stats[`s:${second}`] ?? 0);
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
  }

  return {
    /** Refuses a shard count other than the one the buffer's intents were written with (layout.ts). */
    adoptLayout: () => adoptBufferLayout({ redis, keys: deps.keys, shards }),
    shardCount: shards.count,
    /** The shard that holds a conversation's intents, or a message's. */
    shardOf: shards.ofId,

    /** The acknowledgement: once this resolves QUEUED, the intent is Redis' to keep until a worker flushes it. */
    async push(intent: Intent): Promise<PushResult> {
      const shard = shards.ofId(intent.conversation.id);
      // A status look-up by message id asks the shard the id names: one minted elsewhere would never be found.
      if (shards.ofId(intent.message.id) !== shard || shards.ofId(intent.reply.id) !== shard) {
        throw new InvalidIntentError(
          "The intent's message ids are not in its conversation's shard (BufferShards.newMessageId).",
        );
      }
      const keys = keysOf(shard);
      const json = encodeIntent(intent);
      const [kind, value] = (await scripts.bufferPush(
        keys.pending(),
        keys.queued(),
        keys.conversation(intent.conversation.id),
        idempotencyKey(shard, intent),
        json,
        intentId(intent),
        intent.reply.id,
        intent.conversation.id,
        shardDepthLimit(deps.maxDepth, shards.count),
        intent.message.clientMessageId ? '1' : '0',
        IDEMPOTENCY_TTL_SECONDS,
        messageStatusChannel(deps.keys.prefix, intent.conversation.id),
        JSON.stringify(
          [intent.message.id, intent.reply.id].map((messageId): MessageStatusEvent => ({
            messageId,
            conversationId: intent.conversation.id,
            status: 'QUEUED',
            error: null,
          })),
        ),
      )) as [string, string | number];
      if (kind === 'DUPLICATE') return { kind, first: decodeIntent(String(value)) };
      if (kind === 'QUEUED' && minReplicas > 0) {
        const replicas = await replicated[shard]!();
        if (replicas < minReplicas) return { kind: 'UNREPLICATED', replicas };
      }
      return { kind: kind as 'QUEUED' | 'FULL', depth: Number(value) };
    },

    /** Statuses of the messages the buffer holds; ids it does not hold are left out (PostgreSQL knows them, or nobody). */
    statuses,

    /** A conversation's intents still in the buffer (queued or failed), with each message's status. */
    async conversationIntents(conversationId: string): Promise<{ intent: Intent; status: BufferedStatus }[]> {
      const shard = shards.ofId(conversationId);
      const raws = await redis.hvals(keysOf(shard).conversation(conversationId));
      if (raws.length === 0) return [];
      const intents = raws.map(decodeIntent);
      const found = new Map<string, BufferedStatus>();
      await statusesIn(shard, intents.map(intentId), found);
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
        conversationIds.map(
          (id) => redis.hrandfield(keysOf(shards.ofId(id)).conversation(id), 1, 'WITHVALUES') as Promise<string[]>,
        ),
      );
      conversationIds.forEach((id, i) => {
        const value = picks[i]?.[1];
        if (value) found.set(id, decodeIntent(value));
      });
      return found;
    },

    // --- worker: each call acts on one shard --------------------------------------------

    /**
     * How many intents wait in each shard's pending list, by shard: one LLEN each, all at once.
     * A shard whose master does not answer (a fail-over under way) counts 0: the others go on.
     */
    depths: () => Promise.all(allShards.map((shard) => redis.llen(keysOf(shard).pending()).catch(() => 0))),

    /** Tops the claim up to `max` intents and renews its lease; returns every intent it holds. */
    claim: (shard: number, claimId: string, max: number, leaseMillis: number) => {
      const keys = keysOf(shard);
      return scripts.bufferClaim(
        keys.pending(),
        keys.claim(claimId),
        keys.claims(),
        max,
        leaseMillis,
        claimId,
      ) as Promise<string[]>;
    },

    /**
     * Waits up to `timeoutSeconds` for one intent and moves it into the claim, on a connection
     * of its own (a blocking command holds it). The lease must be registered first (`claim`).
     * A full Redis refuses it (BLMOVE may grow memory; see isRedisOutOfMemory).
     */
    waitForIntent: (shard: number, blocking: RedisClient, claimId: string, timeoutSeconds: number) =>
      blocking.blmove(keysOf(shard).pending(), keysOf(shard).claim(claimId), 'RIGHT', 'LEFT', timeoutSeconds),

    /** Whether the lease is still this worker's (false: the reaper gave the claim back). */
    renew: async (shard: number, claimId: string, leaseMillis: number) =>
      (await scripts.bufferRenew(keysOf(shard).claims(), claimId, leaseMillis)) === 1,

    /** After COMMIT: the intents leave the claim and the indexes. */
    async acknowledge(
      shard: number,
      claimId: string,
      done: { raw: string; intent: Intent }[],
      lagMillis: number,
    ): Promise<number> {
      if (done.length === 0) return 0;
      const keys = keysOf(shard);
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
    requeue: async (shard: number, claimId: string, raw: string, intent: Intent) =>
      (await scripts.bufferRequeue(
        keysOf(shard).claim(claimId),
        keysOf(shard).pending(),
        raw,
        encodeIntent({ ...intent, attempts: intent.attempts + 1 }),
      )) === 1,

    /** To the shard's dead letters; `intent` is undefined when `raw` could not even be read. */
    async deadLetter(
      shard: number,
      claimId: string,
      raw: string,
      intent: Intent | undefined,
      error: string,
      failedAt: Date,
    ): Promise<boolean> {
      const keys = keysOf(shard);
      const id = intent
        ? intentId(intent)
        : `unreadable-${createHash('sha256').update(raw).digest('hex').slice(0, 32)}`;
      const entry: DeadLetterEntry = {
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
          intent ? idempotencyKey(shard, intent) : keys.idempotency('none'),
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
    returnClaim: async (shard: number, claimId: string, onlyIfExpired: boolean) =>
      (await scripts.bufferReturn(
        keysOf(shard).claims(),
        keysOf(shard).claim(claimId),
        keysOf(shard).pending(),
        claimId,
        onlyIfExpired ? '1' : '0',
      )) as number,

    /** Redis' clock, epoch ms: what leases are set and judged by. */
    async redisNowMillis(): Promise<number> {
      const [seconds, micros] = await redis.time();
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    },

    /**
     * Claims of the shard whose lease had run out at `nowMillis` (redisNowMillis): their workers
     * are gone or stuck. Only candidates: returnClaim checks each lease again on the shard's master.
     */
    expiredClaims: (shard: number, nowMillis: number): Promise<string[]> =>
      redis.zrangebyscore(keysOf(shard).claims(), '-inf', nowMillis),

    // --- operators: across every shard ---------------------------------------------------

    async deadLetters(): Promise<DeadLetter[]> {
      const perShard = await Promise.all(
        allShards.map(async (shard) =>
          (await redis.hvals(keysOf(shard).dead())).map((entry) => readDeadLetter(shard, entry)),
        ),
      );
      return perShard.flat().sort((a, b) => a.failedAt.localeCompare(b.failedAt));
    },

    /** Asks every shard: an unreadable intent's id names no conversation, so none can be picked out. */
    async findDeadLetter(id: string): Promise<DeadLetter | undefined> {
      const entries = await Promise.all(allShards.map((shard) => redis.hget(keysOf(shard).dead(), id)));
      const shard = entries.findIndex((entry) => entry !== null);
      return shard < 0 ? undefined : readDeadLetter(shard, entries[shard]!);
    },

    /** Sends a dead letter through its shard again, attempts reset; false when there is none by that id. */
    async replay(letter: DeadLetter): Promise<boolean> {
      const keys = keysOf(letter.shard);
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
        )) === 1
      );
    },

    async drop(letter: DeadLetter): Promise<boolean> {
      const keys = keysOf(letter.shard);
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

    /** Every shard read at once (each one consistent in itself), and their sum. */
    async stats(): Promise<ShardedBufferStats> {
      const [seconds] = await redis.time();
      const at = now();
      const perShard = await Promise.all(allShards.map((shard) => shardStats(shard, at, Number(seconds))));
      const latest = perShard.reduce<BufferStats | undefined>(
        (last, stats) => (stats.lastFlushAt !== null && (last?.lastFlushAt ?? '') < stats.lastFlushAt ? stats : last),
        undefined,
      );
      const sum = (pick: (stats: BufferStats) => number) => perShard.reduce((total, stats) => total + pick(stats), 0);
      const max = (pick: (stats: BufferStats) => number) => Math.max(0, ...perShard.map(pick));
      return {
        depth: sum((stats) => stats.depth),
        oldestAgeMillis: max((stats) => stats.oldestAgeMillis),
        oldestInFlightAgeMillis: max((stats) => stats.oldestInFlightAgeMillis),
        inFlightClaims: sum((stats) => stats.inFlightClaims),
        inFlightIntents: sum((stats) => stats.inFlightIntents),
        deadLetters: sum((stats) => stats.deadLetters),
        flushedTotal: sum((stats) => stats.flushedTotal),
        flushRate: sum((stats) => stats.flushRate),
        lagMillis: latest?.lagMillis ?? 0,
        lastFlushAt: latest?.lastFlushAt ?? null,
        shards: perShard.map((stats, shard) => ({ shard, ...stats })),
      };
    },
  };
}
