import type { RedisClient } from '../../src/platform/redis/connection';
import { createCacheStats, emptyCacheCounts } from '../../src/cache/cache-stats';
import { createCacheKeys } from '../../src/platform/redis/keys';
import type { Logger } from '../../src/core/logger';

type Reply = [Error | null, unknown];

/**
 * Stands in for ioredis' MULTI/EXEC: records each transaction's HINCRBYs and answers EXEC
 * with whatever `nextExec` says (resolve, reject, or a reply per command). Redis' own
 * behaviour is covered by the integration tests.
 */
function fakeRedis() {
  const sent: { key: string; fields: Record<string, number> }[] = [];
  let nextExec: (fields: Record<string, number>) => Promise<Reply[] | null> = async (fields) =>
    Object.keys(fields).map((): Reply => [null, 1]);
  const redis = {
    status: 'ready',
    hash: {} as Record<string, string>,
    multi() {
      const fields: Record<string, number> = {};
      let key = '';
      const transaction = {
        hincrby(k: string, field: string, value: number) {
          key = k;
          fields[field] = value;
          return transaction;
        },
        exec() {
          sent.push({ key, fields: { ...fields } });
          return nextExec(fields);
        },
      };
      return transaction;
    },
    async hgetall() {
      return redis.hash;
    },
  };
  return {
    redis,
    sent,
    /** The fields of every transaction sent so far. */
    fields: () => sent.map((transaction) => transaction.fields),
    answerExec(next: typeof nextExec) {
      nextExec = next;
    },
  };
}

function fakeLog() {
  const log = { warn: jest.fn(), info: jest.fn(), debug: jest.fn(), error: jest.fn() };
  return { log, asLogger: log as unknown as Logger };
}

const keys = createCacheKeys('parley-unit:');

function statsOver(fake: ReturnType<typeof fakeRedis>, log = fakeLog().asLogger) {
  // A long interval: these tests flush by hand.
  return createCacheStats({ redis: fake.redis as unknown as RedisClient, keys, log, flushMillis: 60_000 });
}

describe('cache stats', () => {
  afterEach(() => jest.useRealTimers());

  it('sends one HINCRBY per non-zero counter, in one transaction, into the deployment’s hash', async () => {
    const fake = fakeRedis();
    const stats = statsOver(fake);
    stats.record('bot', 'l1', 3, 1);
    stats.record('bot', 'l1', 2, 0);
    stats.record('user', 'redis', 0, 4);
    await stats.flush();
    expect(fake.sent).toEqual([
      { key: 'parley-unit:stats:cache', fields: { 'bot:l1:hits': 5, 'bot:l1:misses': 1, 'user:redis:misses': 4 } },
    ]);
    // Everything was confirmed: the next flush has nothing to send.
    await stats.flush();
    expect(fake.sent).toHaveLength(1);
    await stats.stop();
  });

  it('keeps the counts of a failed flush and sends them with the next, never twice', async () => {
    const fake = fakeRedis();
    const { log, asLogger } = fakeLog();
    const stats = statsOver(fake, asLogger);
    stats.record('source', 'redis', 10, 2);

    fake.answerExec(() => Promise.reject(new Error('Connection is closed.')));
    await expect(stats.flush()).resolves.toBeUndefined();
    stats.record('source', 'redis', 1, 0);
    await expect(stats.flush()).resolves.toBeUndefined();
    // One warning per outage, not one per second.
    expect(log.warn).toHaveBeenCalledTimes(1);

    fake.answerExec(async (fields) => Object.keys(fields).map((): Reply => [null, 1]));
    await stats.flush();
    expect(fake.fields().at(-1)).toEqual({ 'source:redis:hits': 11, 'source:redis:misses': 2 });
    expect(log.info).toHaveBeenCalledWith('cache counts reach Redis again');

    const before = fake.sent.length;
    await stats.flush();
    expect(fake.sent).toHaveLength(before);
    // What Redis received over all successful flushes is what was recorded.
    expect(stats.snapshot().source.redis).toEqual({ hits: 11, misses: 2 });
    await stats.stop();
  });

  it('subtracts only what a flush sent: counts recorded during EXEC go with the next flush', async () => {
    const fake = fakeRedis();
    const stats = statsOver(fake);
    let finishExec!: () => void;
    fake.answerExec(
      (fields) =>
        new Promise((resolve) => {
          finishExec = () => resolve(Object.keys(fields).map((): Reply => [null, 1]));
        }),
    );
    stats.record('vector', 'redis', 5, 5);
    const flushing = stats.flush();
    await new Promise((resolve) => setImmediate(resolve));
    stats.record('vector', 'redis', 2, 0);
    finishExec();
    await flushing;

    fake.answerExec(async (fields) => Object.keys(fields).map((): Reply => [null, 1]));
    await stats.flush();
    expect(fake.fields()).toEqual([{ 'vector:redis:hits': 5, 'vector:redis:misses': 5 }, { 'vector:redis:hits': 2 }]);
    await stats.stop();
  });

  it('keeps the commands that failed inside EXEC, and everything when EXEC was discarded', async () => {
    const fake = fakeRedis();
    const stats = statsOver(fake);
    stats.record('bot', 'redis', 4, 3);
    fake.answerExec(async () => [
      [null, 4],
      [new Error('WRONGTYPE'), null],
    ]);
    await stats.flush();
    fake.answerExec(async () => null);
    await stats.flush();
    fake.answerExec(async (fields) => Object.keys(fields).map((): Reply => [null, 1]));
    await stats.flush();
    expect(fake.fields()).toEqual([
      { 'bot:redis:hits': 4, 'bot:redis:misses': 3 },
      { 'bot:redis:misses': 3 },
      { 'bot:redis:misses': 3 },
    ]);
    await stats.stop();
  });

  it('flushes on its interval, and stop() flushes once more and ends the timer', async () => {
    jest.useFakeTimers();
    const fake = fakeRedis();
    const stats = createCacheStats({
      redis: fake.redis as unknown as RedisClient,
      keys,
      log: fakeLog().asLogger,
      flushMillis: 1000,
    });
    stats.record('user', 'l1', 1, 0);
    await jest.advanceTimersByTimeAsync(999);
    expect(fake.sent).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(1);
    expect(fake.fields()).toEqual([{ 'user:l1:hits': 1 }]);

    stats.record('user', 'l1', 0, 7);
    await stats.stop();
    expect(fake.fields().at(-1)).toEqual({ 'user:l1:misses': 7 });
    stats.record('user', 'l1', 1, 1);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(fake.sent).toHaveLength(2);
  });

  it('sends nothing to a closed client', async () => {
    const fake = fakeRedis();
    const stats = statsOver(fake);
    stats.record('bot', 'l1', 1, 1);
    fake.redis.status = 'end';
    await stats.stop();
    expect(fake.sent).toHaveLength(0);
  });

  it('counts whole positive numbers only', async () => {
    const stats = createCacheStats({ keys, log: fakeLog().asLogger });
    stats.record('bot', 'l1', 2, 0);
    stats.record('bot', 'l1', -1, 1.5);
    stats.record('bot', 'l1', Number.NaN, 1);
    const expected = emptyCacheCounts();
    expected.bot.l1 = { hits: 2, misses: 1 };
    expect(stats.snapshot()).toEqual(expected);
    await stats.stop();
  });

  it('reads the deployment’s totals plus this instance’s unflushed counts', async () => {
    const fake = fakeRedis();
    const stats = statsOver(fake);
    // Another instance's flushed counts, and a field from a newer version.
    fake.redis.hash = { 'bot:redis:hits': '40', 'bot:redis:misses': '2', 'later-family:l1:hits': '9' };
    stats.record('bot', 'redis', 1, 0);
    const totals = await stats.readTotals();
    expect(totals.scope).toBe('deployment');
    expect(totals.warning).toBeUndefined();
    expect(totals.counts.bot.redis).toEqual({ hits: 41, misses: 2 });
    expect(totals.counts.user.l1).toEqual({ hits: 0, misses: 0 });
    await stats.stop();
  });

  it('falls back to this instance’s counts, saying so, when Redis does not answer', async () => {
    const fake = fakeRedis();
    const stats = statsOver(fake);
    stats.record('session', 'redis', 3, 1);
    await stats.flush();
    stats.record('session', 'redis', 1, 0);
    fake.redis.hgetall = () => Promise.reject(new Error('Connection is closed.'));
    const totals = await stats.readTotals();
    expect(totals.scope).toBe('instance');
    expect(totals.warning).toMatch(/this instance/);
    expect(totals.counts.session.redis).toEqual({ hits: 4, misses: 1 });
    await stats.stop();
  });

  it('keeps counts in process without Redis', async () => {
    const stats = createCacheStats({ keys, log: fakeLog().asLogger });
    stats.record('conversation', 'l1', 1, 2);
    await expect(stats.flush()).resolves.toBeUndefined();
    const totals = await stats.readTotals();
    expect(totals).toMatchObject({ scope: 'instance' });
    expect(totals.warning).toBeUndefined();
    expect(totals.counts.conversation.l1).toEqual({ hits: 1, misses: 2 });
    await stats.stop();
  });
});
