import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../src/platform/redis/connection';
import { decodeIntent, exchangeFromIntent, intentId, type Intent } from '../src/buffer/intent';
import { DEAD_LETTER_MESSAGE, isRedisOutOfMemory, type WriteBuffer } from '../src/buffer/write-buffer';
import { createThrottledWarn } from '../src/core/throttled-warn';
import { groupBy } from '../src/core/group-by';
import { createClaimTurns } from './claim-turns';
import type { Config } from '../src/config/config';
import { isDataError, isTransientDbError } from '../src/platform/postgres/pg-errors';
import type { Logger } from '../src/core/logger';
import type { MessageStatusEvent, MessageStatusPubSub } from '../src/pubsub/message-status-pubsub';
import type { MessagesRepo, PersistOutcome } from '../src/repos/messages';

/** What a FAILED event tells the sender; the cause itself is for the operator (dead letters, log). */
const FAILURE_MESSAGES: Record<Exclude<PersistOutcome, 'STORED'>, string> = {
  DUPLICATE: 'This clientMessageId was already used for a stored message; this copy was not stored.',
  BOT_GONE: 'The bot was deleted before this message could be stored.',
};
const FIRST_RETRY_MILLIS = 100;

interface FlusherCounters {
  flushed: number;
  deadLettered: number;
  requeued: number;
  transientRetries: number;
  reaped: number;
}

interface Claimed {
  /** The shard it was claimed from. */
  shard: number;
  raw: string;
  intent: Intent;
}

/** Raised inside a flush when the worker is stopping: the claim is given back, not finished. */
class StoppingError extends Error {
  override readonly name = 'StoppingError';
}

export type BufferFlusher = ReturnType<typeof createBufferFlusher>;

/**
 * Moves acknowledged chat exchanges from the Redis write buffer into PostgreSQL, exactly
 * once, in batches: claim up to a batch (reliable queue: the claim list survives a crash),
 * store it in one transaction, and only after COMMIT acknowledge the claim and publish the
 * statuses. Transient failures (PostgreSQL down, deadlocks, time-outs) are retried with
 * capped, jittered exponential back-off and never dead-letter; a batch that fails on its data
 * is halved until the intents at fault stand alone, and each of those gets `maxAttempts`
 * tries before it is dead-lettered. Any number of flushers may run: claims are atomic, and
 * a stored exchange stored again is a no-op. A reaper returns the claims of workers that
 * died (their lease ran out).
 */
export function createBufferFlusher(deps: {
  buffer: WriteBuffer;
  messages: MessagesRepo;
  pubsub: MessageStatusPubSub;
  /** A connection of its own for each flush loop's blocking wait. */
  createBlockingRedis: () => RedisClient;
  closeRedis: (redis: RedisClient) => Promise<void>;
  log: Logger;
  settings: Config['buffer'];
}) {
  const { buffer, log, settings } = deps;
  const warn = createThrottledWarn(log, 10_000);
  const counters: FlusherCounters = { flushed: 0, deadLettered: 0, requeued: 0, transientRetries: 0, reaped: 0 };
  const worker = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  let stopping = false;
  let loops: Promise<void>[] = [];
  let reaper: NodeJS.Timeout | undefined;
  let reaping: Promise<void> = Promise.resolve();
  const wakeUps = new Set<() => void>();

  /** Sleeps, but wakes at once when the flusher stops. */
  const pause = (millis: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wakeUps.delete(done);
        resolve();
      };
      const timer = setTimeout(done, millis);
      wakeUps.add(done);
    });

  const claimTurns = createClaimTurns({ lingerMillis: settings.lingerMillis, batchSize: settings.batchSize, pause });

  /** Full jitter: concurrent workers that failed together do not retry together. */
  const backoff = (attempt: number) =>
    Math.random() * Math.min(settings.retryMaxMillis, FIRST_RETRY_MILLIS * 2 ** Math.min(attempt, 20));

  /** Runs `step` until it succeeds, backing off while `retryable(error)`; gives up only when stopping. */
  async function retrying<T>(step: () => Promise<T>, retryable: (error: unknown) => boolean, what: string): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (error: unknown) {
        if (!retryable(error)) throw error;
        if (stopping) throw new StoppingError(`stopped while ${what}`, { cause: error });
        counters.transientRetries++;
        warn(error, `${what} failed; retrying with back-off`, { attempt });
        await pause(backoff(attempt));
      }
    }
  }

  /** Anything but a fault in the rows themselves is the environment's (PostgreSQL down, a deploy): retried. */
  const isEnvironmental = (error: unknown) =>
    isTransientDbError(error) || (typeof (error as { code?: unknown })?.code === 'string' && !isDataError(error));

  const eventsFor = (intent: Intent, status: MessageStatusEvent['status'], error: string | null) =>
    [intent.message.id, intent.reply.id].map((messageId) => ({
      messageId,
      conversationId: intent.conversation.id,
      status,
      error,
    }));

  async function settle(claimId: string, group: Claimed[], outcomes: PersistOutcome[]): Promise<void> {
    const oldest = Math.min(...group.map(({ intent }) => intent.enqueuedAt));
    // Redis must hear of the COMMIT, in each shard the batch came from; until it does the
    // claim stays, and a re-flush is a no-op.
    await Promise.all(
      [...groupBy(group, (item) => item.shard)].map(([shard, items]) =>
        retrying(
          () => buffer.acknowledge(shard, claimId, items, Date.now() - oldest),
          () => true,
          'acknowledging a flush',
        ),
      ),
    );
    counters.flushed += group.length;
    await deps.pubsub.publish(
      group.flatMap(({ intent }, i) => {
        const outcome = outcomes[i]!;
        return outcome === 'STORED'
          ? eventsFor(intent, 'PERSISTED', null)
          : eventsFor(intent, 'FAILED', FAILURE_MESSAGES[outcome]);
      }),
    );
  }

  async function failAttempt(claimId: string, item: Claimed, error: unknown): Promise<void> {
    const id = intentId(item.intent);
    if (item.intent.attempts + 1 < settings.maxAttempts) {
      counters.requeued++;
      log.warn({ err: error, intentId: id, attempt: item.intent.attempts + 1 }, 'an intent failed to store; requeued');
      await retrying(
        () => buffer.requeue(item.shard, claimId, item.raw, item.intent),
        () => true,
        'requeueing an intent',
      );
      return;
    }
    await deadLetter(claimId, item.shard, item.raw, item.intent, error);
  }

  async function deadLetter(
    claimId: string,
    shard: number,
    raw: string,
    intent: Intent | undefined,
    error: unknown,
  ): Promise<void> {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    counters.deadLettered++;
    log.error({ err: error, intentId: intent && intentId(intent) }, 'an intent was dead-lettered');
    const moved = await retrying(
      () => buffer.deadLetter(shard, claimId, raw, intent, reason, new Date()),
      () => true,
      'dead-lettering an intent',
    );
    if (moved && intent) await deps.pubsub.publish(eventsFor(intent, 'FAILED', DEAD_LETTER_MESSAGE));
  }

  /** Stores `group` in one transaction; on a data error, halves it until the culprits stand alone. */
  async function store(claimId: string, group: Claimed[]): Promise<void> {
    let outcomes: PersistOutcome[];
    try {
      outcomes = await retrying(
        () => deps.messages.persistExchanges(group.map(({ intent }) => exchangeFromIntent(intent))),
        isEnvironmental,
        'storing a batch',
      );
    } catch (error: unknown) {
      if (error instanceof StoppingError) throw error;
      if (group.length === 1) return failAttempt(claimId, group[0]!, error);
      const half = Math.ceil(group.length / 2);
      await store(claimId, group.slice(0, half));
      await store(claimId, group.slice(half));
      return;
    }
    await settle(claimId, group, outcomes);
  }

  /** Stores what the loop claimed, from one shard or several, as one batch. */
  async function flushClaims(claimId: string, taken: { shard: number; raws: string[] }[]): Promise<void> {
    const readable: Claimed[] = [];
    for (const { shard, raws } of taken) {
      for (const raw of raws) {
        try {
          readable.push({ shard, raw, intent: decodeIntent(raw) });
        } catch (error: unknown) {
          await deadLetter(claimId, shard, raw, undefined, error);
        }
      }
    }
    // The leases outlive any one flush: renewed while PostgreSQL is slow or down.
    const renewal = setInterval(() => {
      for (const { shard } of taken) {
        buffer.renew(shard, claimId, settings.leaseMillis).then(
          (held) => {
            if (!held)
              log.warn(
                { claimId, shard },
                'a claim was reaped while in flight; its intents may be stored twice (a no-op)',
              );
          },
          (error: unknown) => warn(error, 'could not renew a claim'),
        );
      }
    }, settings.leaseMillis / 3);
    try {
      if (readable.length > 0) await store(claimId, readable);
    } finally {
      clearInterval(renewal);
    }
  }

  /**
   * Blocks until an intent arrives, at most the idle wait. A Redis at maxmemory refuses the
   * blocking move although the claim script still runs (it is flagged allow-oom), and refuses
   * every push too, so nothing new can arrive: the loop waits as long, then claims again (what
   * the reaper or a requeue gave back), rather than logging a failure each time.
   */
  async function waitForWork(blocking: RedisClient, shard: number, claimId: string): Promise<boolean> {
    try {
      return (await buffer.waitForIntent(shard, blocking, claimId, settings.idleWaitMillis / 1000)) !== null;
    } catch (error: unknown) {
      if (!isRedisOutOfMemory(error)) throw error;
      await pause(settings.idleWaitMillis);
      return false;
    }
  }

  /**
   * One round's claims: the batch shared out over the shards in turn from `cursor`, by what each
   * holds (one LLEN each, all at once), then claimed from all of them at once. The shard at the
   * cursor is always asked, which registers the lease a wait on it needs; so is one whose claim
   * may hold intents already. A shard that does not answer (its master failing over) is left for
   * a later round while what the others gave is flushed; only when none answered does it throw.
   */
  async function claimRound(
    claimId: string,
    cursor: number,
    mayHold: ReadonlySet<number>,
    touched: Set<number>,
  ): Promise<{ shard: number; raws: string[] }[]> {
    const shards = buffer.shardCount;
    const waiting = shards > 1 ? await buffer.depths() : [settings.batchSize];
    const asks: { shard: number; max: number }[] = [];
    let room = settings.batchSize;
    for (let step = 0; step < shards && room > 0; step++) {
      const shard = (cursor + step) % shards;
      if (step > 0 && waiting[shard] === 0 && !mayHold.has(shard)) continue;
      const max = Math.max(1, Math.min(room, waiting[shard] ?? 0));
      asks.push({ shard, max });
      touched.add(shard);
      room -= max;
    }
    const claimed = await Promise.allSettled(
      asks.map(async ({ shard, max }) => ({
        shard,
        raws: await buffer.claim(shard, claimId, max, settings.leaseMillis),
      })),
    );
    const failures = claimed.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
    for (const error of failures) warn(error, 'could not claim from a shard; trying the others');
    const taken = claimed.flatMap((result) =>
      result.status === 'fulfilled' && result.value.raws.length > 0 ? [result.value] : [],
    );
    if (taken.length === 0 && failures.length > 0) throw failures[0];
    return taken;
  }

  /**
   * One flush loop. Each round it reads how many intents wait in every shard (one cheap read
   * each, all at once), then fills one batch from the shards in turn, starting after the last
   * shard the previous batch took from: a busy shard cannot starve the others, a batch stays
   * as large (and PostgreSQL's transactions as few) as with one shard, and loops of every
   * worker spread over the shards. Only when a round found nothing does it block, on the shard
   * it stands at, for at most the idle wait. One shard is simply claimed from. The worker's
   * loops claim in turns, with one linger between them (claim-turns.ts).
   */
  async function loop(claimId: string): Promise<void> {
    const blocking = deps.createBlockingRedis();
    const shards = buffer.shardCount;
    const touched = new Set<number>();
    /** Shards whose claim may hold intents already: one a wait moved an intent into, or one a failed flush left. */
    const mayHold = new Set<number>();
    let cursor = Math.floor(Math.random() * shards);
    let failures = 0;
    try {
      while (!stopping) {
        try {
          const taken = await claimTurns.take(async () =>
            stopping ? [] : claimRound(claimId, cursor, mayHold, touched),
          );
          for (const { shard } of taken) mayHold.add(shard);
          if (taken.length > 0) {
            await flushClaims(claimId, taken);
            for (const { shard } of taken) mayHold.delete(shard);
            cursor = (taken.at(-1)!.shard + 1) % shards;
          } else if (!stopping) {
            // The intent the wait moves lands in this shard's claim: the next round starts there.
            // A wait that saw nothing moves on, so an idle loop watches each shard in turn.
            if (await waitForWork(blocking, cursor, claimId)) mayHold.add(cursor);
            else cursor = (cursor + 1) % shards;
          }
          failures = 0;
        } catch (error: unknown) {
          if (error instanceof StoppingError) break;
          warn(error, 'the flush loop failed; retrying with back-off');
          // The next round starts past the shard that failed (its master may be down): the others go first.
          cursor = (cursor + 1) % shards;
          await pause(backoff(failures++));
        }
      }
    } finally {
      // What this loop still holds goes back to the queue now rather than after the lease.
      for (const shard of touched) {
        await buffer
          .returnClaim(shard, claimId, false)
          .catch((error: unknown) =>
            log.warn({ err: error, claimId, shard }, 'could not give a claim back; the reaper will'),
          );
      }
      await deps.closeRedis(blocking);
    }
  }

  async function reapOnce(): Promise<number> {
    let returned = 0;
    // One reading of the clock for every shard: the return checks each lease again anyway.
    const now = await buffer.redisNowMillis();
    for (let shard = 0; shard < buffer.shardCount; shard++) {
      try {
        for (const claimId of await buffer.expiredClaims(shard, now)) {
          const moved = await buffer.returnClaim(shard, claimId, true);
          if (moved < 0) continue;
          returned += moved;
          if (moved > 0)
            log.warn({ claimId, shard, intents: moved }, 'returned the intents of an expired claim to the queue');
        }
      } catch (error: unknown) {
        // One shard's master down (a fail-over) must not keep the others' claims from coming back.
        warn(error, 'could not reap the expired claims of a shard', { shard });
      }
    }
    counters.reaped += returned;
    return returned;
  }

  return {
    counters,
    reapOnce,
    start(): void {
      stopping = false;
      loops = Array.from({ length: settings.flushConcurrency }, (_, i) => loop(`${worker}:${i}`));
      reaper = setInterval(() => {
        reaping = reapOnce().then(
          () => undefined,
          (error: unknown) => warn(error, 'could not reap expired claims'),
        );
      }, settings.leaseMillis / 2);
      reaper.unref();
    },
    /** Finishes the flushes in hand (or gives them back if PostgreSQL is down) and stops. */
    async stop(): Promise<void> {
      stopping = true;
      clearInterval(reaper);
      for (const wake of [...wakeUps]) wake();
      await Promise.all(loops);
      await reaping;
    },
  };
}
