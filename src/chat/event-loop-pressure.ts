import { monitorEventLoopDelay } from 'node:perf_hooks';
import { OverloadedError } from '../core/errors';

/** How often the delay is read; it is the mean over this window, as @fastify/under-pressure measures it. */
const SAMPLE_MILLIS = 500;
const RESOLUTION_MILLIS = 10;

export interface EventLoopPressure {
  /** Throws OVERLOADED (503, Retry-After: 1) while the event loop lags more than allowed. */
  check(): void;
  /** The last measured mean delay, ms. */
  delayMillis(): number;
  stop(): void;
}

/**
 * Sheds sends while this process is saturated: a request that waits its turn behind a
 * lagging event loop would time out anyway, after costing retrieval and a push. Failing
 * fast with Retry-After lets clients back off and keeps latency for what is admitted.
 * `maxDelayMillis` 0 turns it off.
 */
export function createEventLoopPressure(maxDelayMillis: number): EventLoopPressure {
  if (maxDelayMillis === 0) return { check: () => undefined, delayMillis: () => 0, stop: () => undefined };
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MILLIS });
  histogram.enable();
  let delay = 0;
  const timer = setInterval(() => {
    // The histogram counts the sampling resolution itself as delay.
    delay = Number.isNaN(histogram.mean) ? 0 : Math.max(0, histogram.mean / 1e6 - RESOLUTION_MILLIS);
    histogram.reset();
  }, SAMPLE_MILLIS);
  timer.unref();
  return {
    check() {
      if (delay > maxDelayMillis) {
        throw new OverloadedError(1, 'The service is busy: try again in 1 s.');
      }
    },
    delayMillis: () => delay,
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
