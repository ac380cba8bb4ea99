import type { VectorCache } from '../src/cache/vector-cache';
import type { Logger } from '../src/core/logger';
import type { Retriever } from '../src/search/retriever';

export interface VectorWarmerOptions {
  cache: Pick<VectorCache, 'takePopular' | 'refresh'>;
  /** The uncached retriever: PostgreSQL. */
  retriever: Retriever;
  log: Logger;
  /** How many of the most asked searches each run looks at (`VECTOR_WARM_TOP`, 50 by default). */
  top: number;
  /** Time between runs (`VECTOR_WARM_INTERVAL_SECONDS`, 120 s by default). */
  intervalMillis: number;
}

export interface WarmRun {
  looked: number;
  refreshed: number;
  /** Recomputed, but the bot's sources changed meanwhile: not stored (the next search computes it). */
  superseded: number;
  failed: number;
}

/**
 * Keeps the most asked searches cached: every interval, takes the top searches counted in
 * Redis (which also decays the counts) and recomputes each one whose cached result is missing
 * or has less than a third of its TTL left, so popular searches rarely miss. Several workers
 * may run one each: a result one of them refreshed looks fresh to the others, and the counts
 * then decay faster, which changes how long a query stays popular, not the order.
 */
export function createVectorWarmer(options: VectorWarmerOptions) {
  const { cache, retriever, log } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopping = false;

  async function warmOnce(): Promise<WarmRun> {
    const popular = await cache.takePopular(options.top);
    const run: WarmRun = { looked: popular.length, refreshed: 0, superseded: 0, failed: 0 };
    // One at a time: warming must not compete with searches for the pool.
    for (const query of popular) {
      // Shutdown does not wait for the rest: the next worker's run picks them up.
      if (stopping) break;
      try {
        const outcome = await cache.refresh(query, (botId, text, limit) => retriever.retrieve(botId, text, limit));
        if (outcome === 'refreshed') run.refreshed += 1;
        if (outcome === 'superseded') run.superseded += 1;
      } catch (error: unknown) {
        run.failed += 1;
        log.warn({ err: error, botId: query.botId }, 'could not warm a popular search');
      }
    }
    if (run.refreshed + run.superseded + run.failed > 0) log.info(run, 'warmed popular searches');
    return run;
  }

  return {
    warmOnce,
    start(): void {
      timer = setInterval(() => {
        // A run still going (a slow database) is not doubled: this tick is skipped.
        if (running) return;
        running = warmOnce()
          .then(
            () => undefined,
            (error: unknown) => log.warn({ err: error }, 'could not read the popular searches; trying next time'),
          )
          .finally(() => {
            running = undefined;
          });
      }, options.intervalMillis);
    },
    /** Stops the timer and waits for a run in progress to finish the search in hand. */
    async stop(): Promise<void> {
      stopping = true;
      clearInterval(timer);
      await running;
    },
  };
}
