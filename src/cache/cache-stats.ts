import type { RedisClient } from '../platform/redis/connection';
import type { Logger } from '../core/logger';
import { KEY_FAMILIES, type CacheKeys, type KeyFamily } from '../platform/redis/keys';

/** Where a cached read was answered: the in-process L1, or Redis. */
export type CacheLayer = 'l1' | 'redis';

export const CACHE_LAYERS: readonly CacheLayer[] = ['l1', 'redis'];

/**
 * Counts cache hits and misses per key family and layer. The read path calls `record`;
 * `/health/cache` and `/metrics` read the counts (summed across instances through Redis).
 */
export interface CacheStats {
  record(family: KeyFamily, layer: CacheLayer, hits: number, misses: number): void;
}

/** For rollback mode and for tests that do not look at the counts. */
export const noCacheStats: CacheStats = { record: () => undefined };

interface HitsAndMisses {
  hits: number;
  misses: number;
}

/** Hits and misses of every family on every layer (zeros included). */
export type CacheCounts = Record<KeyFamily, Record<CacheLayer, HitsAndMisses>>;

interface CacheTotals {
  /** `deployment`: every instance's counts, from Redis; `instance`: this process's only. */
  scope: 'deployment' | 'instance';
  counts: CacheCounts;
  /** Why the counts are this instance's only, when Redis was expected to answer. */
  warning?: string;
}

/** The counting `CacheStats` an app holds: what the read path records, health and metrics read. */
export interface CacheStatsCollector extends CacheStats {
  /** This instance's counts since start (flushed to Redis or not). */
  snapshot(): CacheCounts;
  /** Every instance's counts from Redis (plus this one's not yet flushed); this instance's alone when Redis fails. */
  readTotals(): Promise<CacheTotals>;
  /** Sends the counts recorded since the last successful flush. Never rejects. */
  flush(): Promise<void>;
  /** Stops the timer and flushes once. */
  stop(): Promise<void>;
}

export interface CacheStatsOptions {
  /** Where the deployment's totals are summed; without it the counts stay in this process. */
  redis?: RedisClient;
  keys: Pick<CacheKeys, 'cacheStats'>;
  log: Logger;
  /** How often counts go to Redis; 1000 by default. */
  flushMillis?: number;
}

type Result = 'hits' | 'misses';

/** The hash field of one counter, e.g. `bot:l1:hits`. */
const fieldOf = (family: KeyFamily, layer: CacheLayer, result: Result) => `${family}:${layer}:${result}`;

const FIELDS = new Map(
  KEY_FAMILIES.flatMap((family) =>
    CACHE_LAYERS.flatMap((layer) =>
      (['hits', 'misses'] as const).map((result) => [fieldOf(family, layer, result), { family, layer, result }]),
    ),
  ),
);

export function emptyCacheCounts(): CacheCounts {
  return Object.fromEntries(
    KEY_FAMILIES.map((family) => [family, { l1: { hits: 0, misses: 0 }, redis: { hits: 0, misses: 0 } }]),
  ) as CacheCounts;
}

/** Counts from counter fields; fields this version does not know (a newer instance's) are skipped. */
function countsFrom(...sources: Iterable<[string, number]>[]): CacheCounts {
  const counts = emptyCacheCounts();
  for (const source of sources) {
    for (const [field, value] of source) {
      const at = FIELDS.get(field);
      if (at && Number.isFinite(value)) counts[at.family][at.layer][at.result] += value;
    }
  }
  return counts;
}

const addTo = (counters: Map<string, number>, field: string, value: number) =>
  counters.set(field, (counters.get(field) ?? 0) + value);

/**
 * Counts in process (recording is a map update, no I/O on the read path) and adds them to
 * one Redis hash per deployment (`keys.cacheStats()`) every `flushMillis`, so any instance
 * can show the deployment's totals. What a flush sends is subtracted only once Redis
 * confirmed it: a failed flush keeps everything for the next one, and nothing is counted
 * twice. The HINCRBYs go in one MULTI: a connection lost half-way applies none of them,
 * where a plain pipeline could apply some and then send them again. (A reply lost after
 * Redis ran EXEC is the one case that still counts twice; it needs a timeout at that exact
 * moment and costs a second's worth of counts.)
 */
export function createCacheStats(options: CacheStatsOptions): CacheStatsCollector {
  const { redis, keys, log, flushMillis = 1000 } = options;
  /** Everything recorded in this process. */
  const totals = new Map<string, number>();
  /** Recorded but not yet confirmed by Redis. */
  const pending = new Map<string, number>();
  let failing = false;
  /** Flushes and reads of the hash run one at a time, so a read never sees a flush half-applied locally. */
  let queue: Promise<unknown> = Promise.resolve();
  let flushQueued: Promise<void> | undefined;

  const exclusive = <T>(operation: () => Promise<T>): Promise<T> => {
    const run = queue.then(operation, operation);
    queue = run.catch(() => undefined);
    return run;
  };

  async function flushOnce(): Promise<void> {
    // A closed client means the process is shutting down (or a test closed it): not an outage.
    if (!redis || pending.size === 0 || redis.status === 'end') return;
    const sent = [...pending];
    try {
      const transaction = redis.multi();
      for (const [field, value] of sent) transaction.hincrby(keys.cacheStats(), field, value);
      const replies = await transaction.exec();
      if (!replies) throw new Error('the transaction was discarded');
      // A command that failed inside EXEC (say, a key of the wrong type) was not applied: keep it.
      const failed = replies.find(([error]) => error);
      sent.forEach(([field, value], i) => {
        if (replies[i]?.[0]) return;
        const left = (pending.get(field) ?? 0) - value;
        if (left === 0) pending.delete(field);
        else pending.set(field, left);
      });
      if (failed) throw failed[0];
      if (failing) log.info('cache counts reach Redis again');
      failing = false;
    } catch (error: unknown) {
      // One warning per outage: a flush fails every second while Redis is down.
      if (!failing) log.warn({ err: error, pending: pending.size }, 'could not flush cache counts; keeping them');
      failing = true;
    }
  }

  const flush = (): Promise<void> => {
    // A tick while a flush waits or runs adds nothing: that flush sends everything pending when it starts.
    flushQueued ??= exclusive(async () => {
      flushQueued = undefined;
      await flushOnce();
    });
    return flushQueued;
  };

  let timer: NodeJS.Timeout | undefined = redis ? setInterval(() => void flush(), flushMillis) : undefined;
  // Counting must not keep a process alive that has nothing else to do.
  timer?.unref();

  return {
    record(family, layer, hits, misses) {
      for (const [result, value] of [
        ['hits', hits],
        ['misses', misses],
      ] as const) {
        // HINCRBY takes whole numbers; a loader counts keys, so anything else is a caller's slip.
        if (!Number.isSafeInteger(value) || value <= 0) continue;
        const field = fieldOf(family, layer, result);
        addTo(totals, field, value);
        addTo(pending, field, value);
      }
    },

    snapshot: () => countsFrom(totals),

    readTotals() {
      if (!redis) return Promise.resolve({ scope: 'instance', counts: countsFrom(totals) });
      return exclusive(async (): Promise<CacheTotals> => {
        try {
          const hash = await redis.hgetall(keys.cacheStats());
          // Redis has every instance's flushed counts; this instance's unflushed ones are added
          // so that a read just made here shows at once.
          return {
            scope: 'deployment',
            counts: countsFrom(
              Object.entries(hash).map(([field, value]): [string, number] => [field, Number(value)]),
              pending,
            ),
          };
        } catch (error: unknown) {
          log.warn({ err: error }, 'could not read the deployment’s cache counts; showing this instance’s');
          return {
            scope: 'instance',
            counts: countsFrom(totals),
            warning: 'Redis did not answer: these are this instance’s counts only.',
          };
        }
      });
    },

    flush,

    async stop() {
      clearInterval(timer);
      timer = undefined;
      await flush();
    },
  };
}
