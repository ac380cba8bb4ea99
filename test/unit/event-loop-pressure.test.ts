import perfHooks, { type IntervalHistogram } from 'node:perf_hooks';
import { createEventLoopPressure } from '../../src/chat/event-loop-pressure';
import { OverloadedError } from '../../src/core/errors';

/** Holds the event loop for `millis`, as a request doing heavy synchronous work would. */
function block(millis: number): void {
  const until = Date.now() + millis;
  while (Date.now() < until) {
    // busy
  }
}

/**
 * Node's event-loop delay histogram replaced by one whose mean the test sets, and the sampling
 * interval run by fake timers: what the machine is doing meanwhile cannot move the outcome.
 */
function fakeDelay() {
  let meanNanos = 0;
  const histogram = { enable: jest.fn(), disable: jest.fn(), reset: jest.fn() };
  Object.defineProperty(histogram, 'mean', { get: () => meanNanos });
  jest.spyOn(perfHooks, 'monitorEventLoopDelay').mockReturnValue(histogram as unknown as IntervalHistogram);
  return {
    /** The mean the next sample reads, as the histogram reports it (resolution included). */
    set(millis: number) {
      meanNanos = millis * 1e6;
    },
    histogram,
  };
}

function refusal(check: () => void): unknown {
  try {
    check();
  } catch (error: unknown) {
    return error;
  }
  return undefined;
}

describe('event-loop pressure', () => {
  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
  });

  it('refuses sends with OVERLOADED and Retry-After while the loop lags, and admits them again after', () => {
    jest.useFakeTimers();
    const delay = fakeDelay();
    const pressure = createEventLoopPressure(100);
    try {
      expect(delay.histogram.enable).toHaveBeenCalled();
      // A quiet loop: the 10 ms sampling resolution is not counted as delay.
      delay.set(10 + 40);
      jest.advanceTimersByTime(500);
      expect(pressure.delayMillis()).toBe(40);
      expect(() => pressure.check()).not.toThrow();

      // Saturated: each turn of the loop held 200 ms, as under a flood of work.
      delay.set(10 + 200);
      expect(() => pressure.check()).not.toThrow(); // read at the next sample, not before
      jest.advanceTimersByTime(500);
      expect(pressure.delayMillis()).toBe(200);
      const refused = refusal(() => pressure.check());
      expect(refused).toBeInstanceOf(OverloadedError);
      expect((refused as OverloadedError).retryAfter).toBe(1);
      // Each sample covers the last window only.
      expect(delay.histogram.reset).toHaveBeenCalledTimes(2);

      delay.set(10 + 5);
      jest.advanceTimersByTime(500);
      expect(() => pressure.check()).not.toThrow();
    } finally {
      pressure.stop();
    }
    expect(delay.histogram.disable).toHaveBeenCalled();
  });

  it('measures a blocked event loop as delay', async () => {
    // The real histogram: blocking only ever adds delay, so a busy machine cannot make this fail.
    const pressure = createEventLoopPressure(100);
    try {
      let sampled = false;
      for (let turn = 0; turn < 50 && !sampled; turn++) {
        block(200);
        await new Promise((resolve) => setImmediate(resolve));
        sampled = pressure.delayMillis() > 0;
      }
      expect(pressure.delayMillis()).toBeGreaterThan(100);
      expect(refusal(() => pressure.check())).toBeInstanceOf(OverloadedError);
    } finally {
      pressure.stop();
    }
  });

  it('never refuses with a limit of 0', () => {
    const pressure = createEventLoopPressure(0);
    block(200);
    expect(() => pressure.check()).not.toThrow();
    pressure.stop();
  });
});
