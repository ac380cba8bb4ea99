import type { RedisClient } from '../../src/platform/redis/connection';
import { createReplicaWaiter } from '../../src/buffer/replica-wait';

/** A stand-in for one Redis connection: counts WAITs and answers each when the test says. */
function fakeRedis() {
  const answers: ((replicas: number) => void)[] = [];
  const sent: [number, number][] = [];
  const redis = {
    wait: (replicas: number, timeout: number) => {
      sent.push([replicas, timeout]);
      return new Promise<number>((resolve) => answers.push(resolve));
    },
  };
  return {
    redis: redis as unknown as RedisClient,
    sent,
    answer: (i: number, replicas: number) => answers[i]!(replicas),
  };
}

/** Lets queued callbacks run: the waiter finds its node before it sends. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('createReplicaWaiter', () => {
  it('sends one WAIT for every push answered before it goes out, and one at a time', async () => {
    const fake = fakeRedis();
    const waitFor = createReplicaWaiter({ redis: fake.redis, key: 'k', replicas: 1, timeoutMillis: 50 });
    // Answered together: one WAIT, sent after all three, covers them all.
    const early = [waitFor(), waitFor(), waitFor()];
    await settle();
    expect(fake.sent).toEqual([[1, 50]]);
    // Answered while it is out: it may not cover them; the next one will, once it is back.
    const late = [waitFor(), waitFor()];
    await settle();
    expect(fake.sent).toHaveLength(1);
    fake.answer(0, 1);
    expect(await Promise.all(early)).toEqual([1, 1, 1]);
    await settle();
    expect(fake.sent).toHaveLength(2);
    fake.answer(1, 0);
    expect(await Promise.all(late)).toEqual([0, 0]);
    // Nothing out: the next push sends its own.
    const next = waitFor();
    await settle();
    expect(fake.sent).toHaveLength(3);
    fake.answer(2, 2);
    expect(await next).toBe(2);
  });

  it('lets a failed WAIT fail its pushes, and the next push try again', async () => {
    const fake = fakeRedis();
    let fail = true;
    const redis = {
      wait: (replicas: number, timeout: number) =>
        fail ? Promise.reject(new Error('connection lost')) : fake.redis.wait(replicas, timeout),
    } as unknown as RedisClient;
    const waitFor = createReplicaWaiter({ redis, key: 'k', replicas: 1, timeoutMillis: 50 });
    await expect(waitFor()).rejects.toThrow('connection lost');
    fail = false;
    const next = waitFor();
    await settle();
    fake.answer(0, 1);
    expect(await next).toBe(1);
  });
});
