import type { FastifyInstance } from 'fastify';
import type { BufferedWritePathStats } from '../buffer/buffered-write-path';
import type { BufferStats, WriteBuffer } from '../buffer/write-buffer';
import type { ChatWritePath } from '../chat/write-path';
import type { Logger } from '../logger';
import { withTimeout } from './health-redis';

/** The probe's limit, as /health/redis': a health check that hangs on a stuck Redis tells an orchestrator nothing. */
export const BUFFER_CHECK_TIMEOUT_MILLIS = 1000;
/** From this share of `maxDepth` on, sends are about to be refused OVERLOADED. */
const NEARLY_FULL_RATIO = 0.9;

type Nullable<T> = { [K in keyof T]: T[K] | null };

export interface BufferHealth extends Nullable<BufferStats>, BufferedWritePathStats {
  /**
   * ok; degraded (still 200): dead letters wait for an operator or the buffer is nearly full,
   * which is the workers' or PostgreSQL's trouble, not this instance's; unavailable (503):
   * Redis did not answer.
   */
  status: 'ok' | 'degraded' | 'unavailable';
  enabled: true;
  maxDepth: number;
  /** Why it is degraded, one sentence each; only when it is. */
  reasons?: string[];
  error?: string;
}

export type BufferHealthAnswer = BufferHealth | { status: 'disabled'; enabled: false };

/** The buffered write path's counters; undefined for the direct path (rollback mode). */
export function bufferedWriteStats(writePath: ChatWritePath): BufferedWritePathStats | undefined {
  return (writePath as ChatWritePath & { stats?: BufferedWritePathStats }).stats;
}

/** Pure: the answer for stats Redis gave. */
export function assessBufferHealth(
  stats: BufferStats,
  writeStats: BufferedWritePathStats,
  maxDepth: number,
): BufferHealth {
  const reasons: string[] = [];
  if (stats.deadLetters > 0) {
    reasons.push(`Dead letters wait for an operator: ${stats.deadLetters} (npm run dlq -- list).`);
  }
  if (stats.depth >= maxDepth * NEARLY_FULL_RATIO) {
    reasons.push(
      `The buffer is nearly full: ${stats.depth} of at most ${maxDepth} intents wait; sends are refused at ${maxDepth}.`,
    );
  }
  return {
    status: reasons.length > 0 ? 'degraded' : 'ok',
    enabled: true,
    ...stats,
    fallbacks: writeStats.fallbacks,
    refusedFull: writeStats.refusedFull,
    maxDepth,
    ...(reasons.length > 0 ? { reasons } : {}),
  };
}

/**
 * Reads the buffer's figures within `timeoutMillis`. Never throws: a Redis that does not
 * answer is `unavailable`, the detail goes to the log.
 */
export async function checkBuffer(
  deps: { buffer: WriteBuffer; writeStats?: BufferedWritePathStats; maxDepth: number; log: Logger },
  timeoutMillis = BUFFER_CHECK_TIMEOUT_MILLIS,
): Promise<BufferHealth> {
  const writeStats = deps.writeStats ?? { fallbacks: 0, refusedFull: 0 };
  try {
    const stats = await withTimeout(deps.buffer.stats(), timeoutMillis);
    return assessBufferHealth(stats, writeStats, deps.maxDepth);
  } catch (error: unknown) {
    deps.log.error({ err: error }, 'write buffer health check failed');
    return {
      status: 'unavailable',
      enabled: true,
      depth: null,
      oldestAgeMillis: null,
      inFlightClaims: null,
      inFlightIntents: null,
      deadLetters: null,
      flushedTotal: null,
      flushRate: null,
      lagMillis: null,
      lastFlushAt: null,
      // This instance's own counters: during an outage, fallbacks are the figure that moves.
      fallbacks: writeStats.fallbacks,
      refusedFull: writeStats.refusedFull,
      maxDepth: deps.maxDepth,
      // Host names and server messages are for operators, not for an unauthenticated caller.
      error: 'Redis did not answer; see the api log for the cause.',
    };
  }
}

/**
 * `/health/buffer`: the write buffer's depth, age, claims, dead letters and flush figures.
 * 200 when Redis answers (ok or degraded: dead letters or a nearly full buffer are for
 * alerts, and taking this instance out of rotation would fix neither), 503 when it does not,
 * 200 `{ status: 'disabled', enabled: false }` in rollback mode. Never rate limited.
 */
export function registerBufferHealthRoute(
  fastify: FastifyInstance,
  deps: {
    buffer?: WriteBuffer;
    writeStats?: BufferedWritePathStats;
    maxDepth: number;
    log: Logger;
    /** Default BUFFER_CHECK_TIMEOUT_MILLIS. */
    timeoutMillis?: number;
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
