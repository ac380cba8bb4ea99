import { createLogger } from '../../src/core/logger';
import type { SourceJob, SourcesRepo } from '../../src/repos/sources';
import type { Embedder } from '../../src/search/embedder';
import type { UrlFetcher } from '../../src/sources/fetch-url';
import { createSourceIngester } from '../../worker/source-ingester';
import { eventually } from '../helpers/test-app';

/** Lets every promise callback and I/O callback queued so far run. */
const settle = async () => {
  for (let turn = 0; turn < 10; turn++) await new Promise((resolve) => setImmediate(resolve));
};

/**
 * An ingester over a queue the test fills: `claimNext` counts its calls and hands out what
 * `queue` holds; each idle wait is recorded and ends when the test says (or on stop).
 */
function ingesterOverQueue(concurrency: number) {
  const queue: SourceJob[] = [];
  const failed: string[] = [];
  /** Ids whose failing is held until the test releases it: their loop stays busy meanwhile. */
  const held = new Map<string, Promise<void>>();
  let claims = 0;
  const sleeps: (() => void)[] = [];
  const sources = {
    claimNext: async () => {
      claims++;
      return queue.shift();
    },
    markFailed: async (job: SourceJob) => {
      await held.get(job.id);
      failed.push(job.id);
      return true;
    },
  } as unknown as SourcesRepo;
  const ingester = createSourceIngester({
    sources,
    fetcher: {} as UrlFetcher,
    embedder: { embed: async (texts: string[]) => texts.map(() => [1]) } as unknown as Embedder,
    log: createLogger({ name: 'test', level: 'silent', pretty: false }),
    settings: { pollMillis: 1000, concurrency, leaseSeconds: 60, retryBaseMillis: 100, extractTimeoutMillis: 5000 },
    sleep: (_millis, signal) =>
      new Promise<void>((resolve, reject) => {
        sleeps.push(resolve);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      }),
  });
  return {
    ingester,
    queue,
    failed,
    held,
    claims: () => claims,
    sleeps,
    /** Ends the latest idle wait: its loop polls again. */
    endWait: () => sleeps.at(-1)!(),
  };
}

const job = (id: string): SourceJob => ({
  id,
  botId: 'bot',
  kind: 'TEXT',
  url: null,
  // No words: the ingestion fails at once, as a content error, without PostgreSQL.
  content: '...',
  contentFormat: 'text',
  attempts: 1,
  leaseToken: 'lease',
});

describe('source ingester polling an empty queue', () => {
  it('polls with one loop while the queue is empty; the others wait for work', async () => {
    const q = ingesterOverQueue(3);
    q.ingester.start();
    await eventually(async () => q.claims() === 3);
    await settle();
    expect(q.sleeps).toHaveLength(1);
    // Each idle wait ends in one poll, by the polling loop alone.
    q.endWait();
    await eventually(async () => q.sleeps.length === 2);
    await settle();
    expect(q.claims()).toBe(4);
    await q.ingester.stop();
  });

  it('wakes the waiting loops when the polling one finds work', async () => {
    const q = ingesterOverQueue(3);
    q.ingester.start();
    await eventually(async () => q.claims() === 3 && q.sleeps.length === 1);
    let release!: () => void;
    q.held.set('first', new Promise((resolve) => (release = resolve)));
    q.queue.push(job('first'), job('second'));
    q.endWait();
    // The polling loop takes the first and is busy with it; a waiting loop, woken, takes the second.
    await eventually(async () => q.failed.includes('second'));
    expect(q.failed).toEqual(['second']);
    release();
    await eventually(async () => q.failed.length === 2);
    await q.ingester.stop();
  });

  it('stops with loops waiting', async () => {
    const q = ingesterOverQueue(4);
    q.ingester.start();
    await eventually(async () => q.claims() === 4 && q.sleeps.length === 1);
    await expect(q.ingester.stop()).resolves.toBeUndefined();
  });
});
