import type { BufferStats } from '../../src/buffer/write-buffer';
import {
  assessBufferHealth,
  bufferProblems,
  FALLBACK_RECENT_MILLIS,
  NO_BUFFERED_WRITES,
} from '../../src/http/health-buffer';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const LIMITS = { maxDepth: 100, maxAgeSeconds: 60 };
const QUIET: BufferStats = {
  depth: 3,
  oldestAgeMillis: 2_000,
  oldestInFlightAgeMillis: 1_000,
  inFlightClaims: 1,
  inFlightIntents: 5,
  deadLetters: 0,
  flushedTotal: 40,
  flushRate: 4,
  lagMillis: 300,
  lastFlushAt: '2026-12-01T11:59:59.000Z',
};

const problemsOf = (stats: Partial<BufferStats>, writes = NO_BUFFERED_WRITES, now = NOW) =>
  bufferProblems({ ...QUIET, ...stats }, writes, LIMITS, now).map(({ problem }) => problem);

describe('assessBufferHealth', () => {
  it('is ok for a buffer that flushes, with every figure and the limits', () => {
    expect(assessBufferHealth(QUIET, NO_BUFFERED_WRITES, LIMITS, NOW)).toEqual({
      status: 'ok',
      enabled: true,
      ...QUIET,
      fallbacks: 0,
      lastFallbackAt: null,
      refusedFull: 0,
      maxDepth: 100,
      maxAgeSeconds: 60,
    });
  });

  it('is degraded once the oldest intent, queued or in flight, is older than maxAgeSeconds', () => {
    expect(problemsOf({ oldestAgeMillis: 60_000 })).toEqual([]);
    expect(problemsOf({ oldestAgeMillis: 60_001 })).toEqual(['stale_intents']);
    expect(problemsOf({ oldestInFlightAgeMillis: 60_001 })).toEqual(['stale_intents']);
    const health = assessBufferHealth({ ...QUIET, oldestInFlightAgeMillis: 107_400 }, NO_BUFFERED_WRITES, LIMITS, NOW);
    expect(health).toMatchObject({
      status: 'degraded',
      reasons: [
        'An acknowledged send has waited 107 s to be stored, more than BUFFER_MAX_AGE_SECONDS (60): check that workers run and reach PostgreSQL and Redis.',
      ],
    });
  });

  it('is degraded for a minute after a send fell back to PostgreSQL, by the clock it is given', () => {
    const fellBack = { fallbacks: 3, lastFallbackAt: NOW - 1_000, refusedFull: 0 };
    const health = assessBufferHealth(QUIET, fellBack, LIMITS, NOW);
    expect(health).toMatchObject({
      status: 'degraded',
      fallbacks: 3,
      lastFallbackAt: '2026-12-01T11:59:59.000Z',
      reasons: [expect.stringMatching(/^Sends fell back to PostgreSQL in the last 60 s \(3 since start\)/)],
    });
    expect(problemsOf({}, fellBack, NOW - 1_000 + FALLBACK_RECENT_MILLIS - 1)).toEqual(['fallbacks']);
    expect(problemsOf({}, fellBack, NOW - 1_000 + FALLBACK_RECENT_MILLIS)).toEqual([]);
  });

  it('gives every reason at once, in a fixed order', () => {
    expect(
      problemsOf(
        { deadLetters: 2, depth: 95, oldestAgeMillis: 90_000 },
        { fallbacks: 1, lastFallbackAt: NOW, refusedFull: 4 },
      ),
    ).toEqual(['dead_letters', 'nearly_full', 'stale_intents', 'fallbacks']);
  });
});
