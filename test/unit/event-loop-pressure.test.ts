import { createEventLoopPressure } from '../../src/chat/event-loop-pressure';
import { OverloadedError } from '../../src/errors';

const pause = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

/** Holds the event loop for `millis`, as a request doing heavy synchronous work would. */
function block(millis: number): void {
  const until = Date.now() + millis;
  while (Date.now() < until) {
    // busy
  }
}

describe('event-loop pressure', () => {
  it('refuses sends with OVERLOADED and Retry-After while the loop lags, and admits them again after', async () => {
    const pressure = createEventLoopPressure(100);
    try {
      await pause(600);
      expect(() => pressure.check()).not.toThrow();
      // Saturated for 1.5 s: every turn of the loop holds it 200 ms, as under a flood of work.
      for (let turn = 0; turn < 8; turn++) {
        block(200);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(pressure.delayMillis()).toBeGreaterThan(100);
      let refused: unknown;
      try {
        pressure.check();
      } catch (error: unknown) {
        refused = error;
      }
      expect(refused).toBeInstanceOf(OverloadedError);
      expect((refused as OverloadedError).retryAfter).toBe(1);
      await pause(1200);
      expect(() => pressure.check()).not.toThrow();
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
