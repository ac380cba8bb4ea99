import { OverloadedError } from '../../src/core/errors';
import { createFairQueue, type FairQueueOptions } from '../../src/auth/fair-queue';

/** Lets every promise chain that can move, move: the queue hands places on in microtasks. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A queue whose jobs run until the test finishes them, one by one: records the order jobs
 * start in, how many run at once (overall and per key), and which ever ran.
 */
function harness(options: FairQueueOptions) {
  const queue = createFairQueue(options);
  const started: string[] = [];
  const finishers: { key: string; finish: (error?: Error) => void }[] = [];
  const runningByKey = new Map<string, number>();
  let running = 0;
  let maxRunning = 0;
  let maxRunningOneKey = 0;

  function submit(key: string): Promise<string> {
    return queue.run(key, async () => {
      started.push(key);
      running++;
      runningByKey.set(key, (runningByKey.get(key) ?? 0) + 1);
      maxRunning = Math.max(maxRunning, running);
      maxRunningOneKey = Math.max(maxRunningOneKey, runningByKey.get(key)!);
      try {
        await new Promise<void>((resolve, reject) =>
          finishers.push({ key, finish: (error) => (error ? reject(error) : resolve()) }),
        );
        return key;
      } finally {
        running--;
        runningByKey.set(key, runningByKey.get(key)! - 1);
      }
    });
  }

  /** Finishes the job that started first of those still running, and lets the queue move on. */
  async function finishOldest(error?: Error): Promise<void> {
    const next = finishers.shift();
    if (!next) throw new Error('no job is running');
    next.finish(error);
    await settle();
  }

  async function finishAll(): Promise<void> {
    while (finishers.length > 0) await finishOldest();
  }

  return {
    queue,
    started,
    submit,
    finishOldest,
    finishAll,
    get running() {
      return running;
    },
    get maxRunning() {
      return maxRunning;
    },
    get maxRunningOneKey() {
      return maxRunningOneKey;
    },
  };
}

/** Why `promise` rejected, or a failure if it resolved. */
async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: unknown) => error,
  );
}

describe('fair queue', () => {
  it('with one place, starts a newcomer second, not behind the five jobs another key has waiting', async () => {
    const h = harness({ concurrency: 1, maxWaiting: 10, maxPerKey: 10 });
    const flood = Array.from({ length: 6 }, () => h.submit('A'));
    await settle();
    expect(h.queue.held('A')).toEqual({ running: 1, waiting: 5 });
    const other = h.submit('B');
    await settle();
    expect(h.started).toEqual(['A']);

    await h.finishAll();
    expect(h.started).toEqual(['A', 'B', 'A', 'A', 'A', 'A', 'A']);
    await expect(other).resolves.toBe('B');
    await expect(Promise.all(flood)).resolves.toHaveLength(6);
    expect(h.maxRunning).toBe(1);
  });

  it('takes turns round-robin between the keys waiting, in the order they came', async () => {
    const h = harness({ concurrency: 1, maxWaiting: 20, maxPerKey: 5 });
    const jobs = ['A', 'A', 'A', 'B', 'B', 'B', 'C', 'C', 'C'].map((key) => h.submit(key));
    await settle();
    await h.finishAll();
    await Promise.all(jobs);
    expect(h.started).toEqual(['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B', 'C']);
  });

  it('never runs more than `concurrency` jobs at once, nor more than `maxRunningPerKey` of one key', async () => {
    const h = harness({ concurrency: 3, maxRunningPerKey: 2, maxWaiting: 100, maxPerKey: 5 });
    const keys = Array.from({ length: 8 }, (_, i) => `key-${i}`);
    const jobs = keys.flatMap((key) => [h.submit(key), h.submit(key), h.submit(key), h.submit(key)]);
    await settle();
    expect(h.queue.stats()).toMatchObject({ running: 3, waiting: 29 });
    await h.finishAll();
    await Promise.all(jobs);
    expect(h.started).toHaveLength(32);
    expect(h.maxRunning).toBe(3);
    expect(h.maxRunningOneKey).toBe(2);
    expect(h.queue.stats()).toMatchObject({ running: 0, waiting: 0, keys: 0, started: 32 });
  });

  it('lets one key alone run no more than its share, leaving a place free for the next key', async () => {
    const h = harness({ concurrency: 2, maxRunningPerKey: 1, maxWaiting: 10, maxPerKey: 4 });
    const flood = [h.submit('A'), h.submit('A'), h.submit('A')];
    await settle();
    expect(h.queue.stats()).toMatchObject({ running: 1, waiting: 2 });
    const other = h.submit('B');
    await settle();
    expect(h.started).toEqual(['A', 'B']);
    await h.finishAll();
    await Promise.all([...flood, other]);
  });

  it('refuses a key beyond its share at once, OVERLOADED with Retry-After, without running the job', async () => {
    const h = harness({ concurrency: 1, maxWaiting: 10, maxPerKey: 3 });
    const held = [h.submit('A'), h.submit('A'), h.submit('A')];
    const refused = [h.submit('A'), h.submit('A')];
    for (const promise of refused) {
      const error = await refusal(promise);
      expect(error).toBeInstanceOf(OverloadedError);
      expect(error).toMatchObject({
        code: 'OVERLOADED',
        retryAfter: 1,
        http: { status: 503, headers: { 'retry-after': '1' } },
      });
    }
    expect(h.queue.stats().refused).toEqual({ key_share: 2, queue_full: 0 });
    // Another key is not held back by A's refusals.
    const other = h.submit('B');
    await settle();
    await h.finishAll();
    await Promise.all([...held, other]);
    expect(h.started).toEqual(['A', 'B', 'A', 'A']);
  });

  it('refuses a job when the waiting room is full, but not one that a free place can take', async () => {
    const h = harness({ concurrency: 2, maxRunningPerKey: 1, maxWaiting: 1, maxPerKey: 5 });
    const a = [h.submit('A'), h.submit('A')];
    await settle();
    expect(h.queue.stats()).toMatchObject({ running: 1, waiting: 1 });
    // The room is full, but a place is free and B may take it.
    const b = h.submit('B');
    await settle();
    expect(h.started).toEqual(['A', 'B']);
    // No place is free and the room is full.
    expect(await refusal(h.submit('C'))).toBeInstanceOf(OverloadedError);
    expect(h.queue.stats().refused).toEqual({ key_share: 0, queue_full: 1 });
    expect(h.queue.held('C')).toEqual({ running: 0, waiting: 0 });
    await h.finishAll();
    await Promise.all([...a, b]);
  });

  it('frees the place of a job that fails, and passes its error on', async () => {
    const h = harness({ concurrency: 1, maxWaiting: 10, maxPerKey: 10 });
    const failing = h.submit('A');
    const next = h.submit('B');
    await settle();
    await h.finishOldest(new Error('scrypt failed'));
    await expect(failing).rejects.toThrow('scrypt failed');
    expect(h.started).toEqual(['A', 'B']);
    await h.finishAll();
    await expect(next).resolves.toBe('B');

    const queue = createFairQueue({ concurrency: 1, maxWaiting: 0, maxPerKey: 1 });
    await expect(
      queue.run('A', () => {
        throw new Error('thrown before any promise');
      }),
    ).rejects.toThrow('thrown before any promise');
    await expect(queue.run('A', async () => 'ran')).resolves.toBe('ran');
    expect(queue.stats()).toMatchObject({ running: 0, waiting: 0, keys: 0 });
  });

  it('tells listeners of every start in order and of every refusal', async () => {
    const h = harness({ concurrency: 1, maxWaiting: 10, maxPerKey: 2 });
    const starts: string[] = [];
    const refusals: string[] = [];
    h.queue.onStart((key) => starts.push(key));
    h.queue.onRefused((key, reason) => refusals.push(`${key}:${reason}`));
    const jobs = [h.submit('A'), h.submit('A'), h.submit('B')];
    await refusal(h.submit('A'));
    await settle();
    await h.finishAll();
    await Promise.all(jobs);
    expect(starts).toEqual(h.started);
    expect(refusals).toEqual(['A:key_share']);
  });
});
