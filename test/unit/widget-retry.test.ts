import { BACKOFF_CAP_MILLIS, backoffMillis, inSeconds, retryDelayMillis } from '../../widget/src/retry';

describe('widget retry timing', () => {
  it('backs off exponentially with jitter in the upper half, up to a cap', () => {
    expect([0, 1, 2, 3].map((attempt) => backoffMillis(attempt, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([0, 1, 2, 3].map((attempt) => backoffMillis(attempt, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMillis(30, () => 1)).toBe(BACKOFF_CAP_MILLIS);
    expect(backoffMillis(30, () => 0)).toBe(BACKOFF_CAP_MILLIS / 2);
  });

  it("waits at least the server's Retry-After, capped at five minutes, and backs off without one", () => {
    for (let i = 0; i < 50; i++) {
      const wait = retryDelayMillis(7, 0);
      expect(wait).toBeGreaterThanOrEqual(7000);
      expect(wait).toBeLessThanOrEqual(7250);
    }
    expect(retryDelayMillis(86_400, 0)).toBeLessThanOrEqual(300_250);
    const backoff = retryDelayMillis(undefined, 2);
    expect(backoff).toBeGreaterThanOrEqual(2000);
    expect(backoff).toBeLessThanOrEqual(4000);
  });

  it('never tells the visitor "0 s"', () => {
    expect([0, 400, 1400, 7000].map(inSeconds)).toEqual([1, 1, 1, 7]);
  });
});
