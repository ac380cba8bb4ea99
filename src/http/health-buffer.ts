import type { FastifyInstance } from 'fastify';
import type { BufferedWritePathStats } from '../chat/buffered-write-path';
import { shardDepthLimit, type BufferStats, type ShardedBufferStats, type WriteBuffer } from '../buffer/write-buffer';
import type { ChatWritePath } from '../chat/write-path';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import { withTimeout } from './health-redis';

/** The probe's limit, as /health/redis': a health check that hangs on a stuck Redis tells an orchestrator nothing. */
const BUFFER_CHECK_TIMEOUT_MILLIS = 1000;
/** From this share of `maxDepth` on, sends are about to be refused OVERLOADED. */
const NEARLY_FULL_RATIO = 0.9;
/**
 * How long one fallback keeps the buffer degraded. A send written straight to PostgreSQL is
 * stored, so nothing is lost, but the buffer refused it (Redis down, out of memory, too
 * slow): an alert's worth for a minute, long enough for a scrape or a probe to see it.
 */
export const FALLBACK_RECENT_MILLIS = 60_000;

/** What /health/buffer and /metrics judge the buffer against (BUFFER_MAX_DEPTH, BUFFER_MAX_AGE_SECONDS). */
export type BufferLimits = Pick<Config['buffer'], 'maxDepth' | 'maxAgeSeconds'>;

/** Why the buffer is degraded; also the `reason` label of `parley_buffer_degraded_reason`. */
export const BUFFER_PROBLEMS = ['dead_letters', 'nearly_full', 'stale_intents', 'fallbacks'] as const;
export type BufferProblem = (typeof BUFFER_PROBLEMS)[number];

type Nullable<T> = { [K in keyof T]: T[K] | null };

export interface BufferHealth extends Nullable<BufferStats>, Omit<BufferedWritePathStats, 'lastFallbackAt'> {
  /**
   * ok; degraded (still 200): dead letters wait for an operator, the buffer is nearly full, an
   * intent has waited longer than BUFFER_MAX_AGE_SECONDS, or sends fell back to PostgreSQL in
   * the last minute; all of them are the workers', Redis' or PostgreSQL's trouble, not this
   * instance's; unavailable (503): Redis did not answer.
   */
  status: 'ok' | 'degraded' | 'unavailable';
  enabled: true;
  /** This instance's last fallback to PostgreSQL, ISO; null when there was none. */
  lastFallbackAt: string | null;
  maxDepth: number;
  maxAgeSeconds: number;
  /** Each shard's figures (BUFFER_SHARDS); absent when Redis did not answer. */
  shards?: ShardedBufferStats['shards'];
  /** Why it is degraded, one sentence each; only when it is. */
  reasons?: string[];
  error?: string;
}

type BufferHealthAnswer = BufferHealth | { status: 'disabled'; enabled: false };

/** The buffered write path's counters; undefined for the direct path (rollback mode). */
export function bufferedWriteStats(writePath: ChatWritePath): BufferedWritePathStats | undefined {
  return (writePath as ChatWritePath & { stats?: BufferedWritePathStats }).stats;
}

/** The counters of a write path that never fell back (or has none). */
export const NO_BUFFERED_WRITES: BufferedWritePathStats = { fallbacks: 0, lastFallbackAt: null, refusedFull: 0 };

/** Pure: what is wrong with the buffer, each with the sentence /health/buffer gives. */
export function bufferProblems(
  stats: BufferStats & Partial<Pick<ShardedBufferStats, 'shards'>>,
  writeStats: BufferedWritePathStats,
  limits: BufferLimits,
  now: number,
): { problem: BufferProblem; reason: string }[] {
  const problems: { problem: BufferProblem; reason: string }[] = [];
  if (stats.deadLetters > 0) {
    problems.push({
      problem: 'dead_letters',
      reason: `Dead letters wait for an operator: ${stats.deadLetters} (npm run dlq -- list).`,
    });
  }
  // Each shard takes its share of BUFFER_MAX_DEPTH: one shard refusing sends is enough to tell.
  const shards = stats.shards ?? [{ ...stats, shard: 0 }];
  const share = shardDepthLimit(limits.maxDepth, shards.length);
  const fullest = shards.reduce((most, shard) => (shard.depth > most.depth ? shard : most), shards[0]!);
  if (stats.depth >= limits.maxDepth * NEARLY_FULL_RATIO || fullest.depth >= share * NEARLY_FULL_RATIO) {
    problems.push({
      problem: 'nearly_full',
      reason:
        shards.length === 1
          ? `The buffer is nearly full: ${stats.depth} of at most ${limits.maxDepth} intents wait; sends are refused at ${limits.maxDepth}.`
          : `The buffer is nearly full: ${stats.depth} of at most ${limits.maxDepth} intents wait, ${fullest.depth} in shard ${fullest.shard}; its sends are refused at ${share}.`,
    });
  }
  // Queued or held by a worker, an acknowledged send that is not in PostgreSQL after this long
  // means the workers are not storing: none running, PostgreSQL refusing them, or Redis
  // refusing their claims. The depth alone does not show it: a stalled buffer may be small.
  const oldestMillis = Math.max(stats.oldestAgeMillis, stats.oldestInFlightAgeMillis);
  if (oldestMillis > limits.maxAgeSeconds * 1000) {
    problems.push({
      problem: 'stale_intents',
      reason: `An acknowledged send has waited ${Math.floor(oldestMillis / 1000)} s to be stored, more than BUFFER_MAX_AGE_SECONDS (${limits.maxAgeSeconds}): check that workers run and reach PostgreSQL and Redis.`,
    });
  }
  if (writeStats.lastFallbackAt !== null && now - writeStats.lastFallbackAt < FALLBACK_RECENT_MILLIS) {
    problems.push({
      problem: 'fallbacks',
      reason: `Sends fell back to PostgreSQL in the last ${FALLBACK_RECENT_MILLIS / 1000} s (${writeStats.fallbacks} since start): the buffer's Redis refused them (down, out of memory or too slow).`,
    });
  }
  return problems;
}

const isoOrNull = (millis: number | null) => (millis === null ? null : new Date(millis).toISOString());

/** Pure: the answer for stats Redis gave, judged at `now` (epoch ms). */
export function assessBufferHealth(
  stats: BufferStats & Partial<Pick<ShardedBufferStats, 'shards'>>,
  writeStats: BufferedWritePathStats,
  limits: BufferLimits,
  now: number,
): BufferHealth {
  const reasons = bufferProblems(stats, writeStats, limits, now).map(({ reason }) => reason);
  return {
    status: reasons.length > 0 ? 'degraded' : 'ok',
    enabled: true,
    ...stats,
    fallbacks: writeStats.fallbacks,
    lastFallbackAt: isoOrNull(writeStats.lastFallbackAt),
    refusedFull: writeStats.refusedFull,
    maxDepth: limits.maxDepth,
    maxAgeSeconds: limits.maxAgeSeconds,
    ...(reasons.length > 0 ? { reasons } : {}),
  };
}

/**
 * Reads the buffer's figures within `timeoutMillis`. Never throws: a Redis that does not
 * answer is `unavailable`, the detail goes to the log.
 */
async function checkBuffer(
  deps: {
    buffer: WriteBuffer;
    writeStats?: BufferedWritePathStats;
    limits: BufferLimits;
    log: Logger;
    /** Default Date.now. */
    now?: () => number;
  },
  timeoutMillis = BUFFER_CHECK_TIMEOUT_MILLIS,
): Promise<BufferHealth> {
  const writeStats = deps.writeStats ?? NO_BUFFERED_WRITES;
  const now = deps.now ?? Date.now;
  try {
    const stats = await withTimeout(deps.buffer.stats(), timeoutMillis);
    return assessBufferHealth(stats, writeStats, deps.limits, now());
  } catch (error: unknown) {
    deps.log.error({ err: error }, 'write buffer health check failed');
    return {
      status: 'unavailable',
      enabled: true,
      depth: null,
      oldestAgeMillis: null,
      oldestInFlightAgeMillis: null,
      inFlightClaims: null,
      inFlightIntents: null,
      deadLetters: null,
      flushedTotal: null,
      flushRate: null,
      lagMillis: null,
      lastFlushAt: null,
      // This instance's own counters: during an outage, fallbacks are the figure that moves.
      fallbacks: writeStats.fallbacks,
      lastFallbackAt: isoOrNull(writeStats.lastFallbackAt),
      refusedFull: writeStats.refusedFull,
      maxDepth: deps.limits.maxDepth,
      maxAgeSeconds: deps.limits.maxAgeSeconds,
      // Host names and server messages are for operators, not for an unauthenticated caller.
      error: 'Redis did not answer; see the api log for the cause.',
    };
  }
}

/**
 * `/health/buffer`: the write buffer's depth, ages, claims, dead letters, flush figures and
 * this instance's fallbacks. 200 when Redis answers (ok or degraded, with `reasons`: dead
 * letters, a nearly full or stalled buffer, recent fallbacks are for alerts, and taking this
 * instance out of rotation would fix none of them), 503 when it does not, 200
 * `{ status: 'disabled', enabled: false }` in rollback mode. Never rate limited.
 */
export function registerBufferHealthRoute(
  fastify: FastifyInstance,
  deps: {
    buffer?: WriteBuffer;
    writeStats?: BufferedWritePathStats;
    limits: BufferLimits;
    log: Logger;
    /** Default BUFFER_CHECK_TIMEOUT_MILLIS. */
    timeoutMillis?: number;
    /** Default Date.now. */
    now?: () => number;
  },
): void {
  fastify.get('/health/buffer', async (_request, reply): Promise<BufferHealthAnswer> => {
    const { buffer } = deps;
    if (!buffer) return { status: 'disabled', enabled: false };
    const health = await checkBuffer({ ...deps, buffer }, deps.timeoutMillis);
    reply.code(health.status === 'unavailable' ? 503 : 200);
    return health;
  });
}
