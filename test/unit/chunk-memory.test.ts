import type { InvalidationWatcher } from '../../src/cache/entity-cache';
import type { StoredChunks } from '../../src/repos/chunks';
import type { InvalidationFeed } from '../../src/cache/coherent-memory';
import { batchChunkLoads, createChunkMemory } from '../../src/search/chunk-memory';

const DIMENSION = 4;
const keyOf = (botId: string) => `test:chunks:bot:{${botId}}`;

/** Chunks of `count` rows, each `textLength` characters. */
const stored = (count: number, textLength = 1000): StoredChunks => ({
  sourceIds: Array.from({ length: count }, (_, i) => `source-${i}`),
  contents: Array.from({ length: count }, () => 'x'.repeat(textLength)),
  embeddings: Array.from({ length: count }, () => Float32Array.from([1, 0, 0, 0])),
});

/** A feed the test drives, and a repository whose loads the test settles: counted, not timed. */
function harness(options: { maxBytes?: number; botMaxChunks?: number } = {}) {
  const watchers: InvalidationWatcher[] = [];
  let listening = true;
  const feed: InvalidationFeed = { listening: () => listening, watch: (watcher) => watchers.push(watcher) };
  const pending: (() => void)[] = [];
  const sizes = new Map<string, number>();
  let loads = 0;
  const max = options.botMaxChunks ?? 100;
  const memory = createChunkMemory({
    loadChunks: (botId) => {
      loads++;
      return new Promise((resolve) => {
        const count = sizes.get(botId) ?? 2;
        pending.push(() => resolve(count > max ? undefined : stored(count)));
      });
    },
    feed,
    chunksKey: keyOf,
    dimension: DIMENSION,
    maxBytes: options.maxBytes ?? 1_000_000,
  });
  return {
    memory,
    sizes,
    loads: () => loads,
    /** Settles every load asked for so far. */
    settle: () => pending.splice(0).forEach((resolve) => resolve()),
    /** Settles every load asked for so far, the last asked first. */
    settleNewestFirst: () =>
      pending
        .splice(0)
        .reverse()
        .forEach((resolve) => resolve()),
    /** One search, its load (if it needs one) settled at once. */
    async lookup(botId: string) {
      const found = memory.chunksOf(botId);
      pending.splice(0).forEach((resolve) => resolve());
      return found;
    },
    invalidate: (dropped: readonly string[] | 'all') => watchers.forEach((watcher) => watcher(dropped)),
    setListening: (value: boolean) => (listening = value),
  };
}

describe('the chunk memory (bots’ chunks in process, kept coherent by invalidations)', () => {
  it('loads a bot once for any number of concurrent first searches, then answers from memory', async () => {
    const h = harness();
    const first = Array.from({ length: 10 }, () => h.memory.chunksOf('bot-a'));
    expect(h.loads()).toBe(1);
    h.settle();
    const indexes = await Promise.all(first);
    expect(new Set(indexes).size).toBe(1);
    expect(indexes[0]!.count).toBe(2);
    expect(await h.lookup('bot-a')).toBe(indexes[0]);
    expect(h.loads()).toBe(1);
    expect(h.memory.stats()).toMatchObject({ bots: 1, hits: 1, misses: 10 });
  });

  it('drops a bot on its own key only, and loads it again on the next search', async () => {
    const h = harness();
    await h.lookup('bot-a');
    await h.lookup('bot-b');
    h.invalidate([keyOf('bot-a'), 'test:bot:{bot-b}', 'test:chunks:bot:{}']);
    await h.lookup('bot-b');
    expect(h.loads()).toBe(2);
    await h.lookup('bot-a');
    expect(h.loads()).toBe(3);
  });

  it('answers from a load the bot was invalidated during, but does not keep it', async () => {
    const h = harness();
    const during = h.memory.chunksOf('bot-a');
    h.invalidate([keyOf('bot-a')]);
    // A search after the invalidation does not join the load that began before it.
    const after = h.memory.chunksOf('bot-a');
    expect(h.loads()).toBe(2);
    // The old load lands last, so keeping it would replace the new one.
    h.settleNewestFirst();
    expect((await during)!.count).toBe(2);
    const fresh = await after;
    expect(fresh).not.toBe(await during);
    // The second load is kept: it began after the invalidation.
    expect(await h.lookup('bot-a')).toBe(fresh);
    expect(h.loads()).toBe(2);
  });

  it('holds nothing and loads nothing while invalidations cannot reach it', async () => {
    const h = harness();
    await h.lookup('bot-a');
    const loading = h.memory.chunksOf('bot-b');
    h.setListening(false);
    h.invalidate('all');
    expect(await h.lookup('bot-a')).toBeUndefined();
    h.settle();
    await loading;
    expect(h.loads()).toBe(2);
    expect(h.memory.stats().bots).toBe(0);
    h.setListening(true);
    expect(await h.lookup('bot-b')).toBeDefined();
    expect(h.loads()).toBe(3);
  });

  it('sends a bot with too many chunks to PostgreSQL, remembering so until its chunks change', async () => {
    const h = harness({ botMaxChunks: 5 });
    h.sizes.set('big', 6);
    expect(await h.lookup('big')).toBeUndefined();
    expect(await h.lookup('big')).toBeUndefined();
    expect(h.loads()).toBe(1);
    h.sizes.set('big', 5);
    h.invalidate([keyOf('big')]);
    expect((await h.lookup('big'))!.count).toBe(5);
  });

  it('stays within its byte bound, dropping the least recently searched bot first', async () => {
    const h = harness({ maxBytes: 100_000 });
    h.sizes.set('a', 10);
    const one = (await h.lookup('a'))!.bytes;
    for (const bot of ['b', 'c', 'd', 'e', 'f', 'g', 'h']) {
      h.sizes.set(bot, 10);
      await h.lookup(bot);
    }
    const { bots, bytes } = h.memory.stats();
    expect(bytes).toBeLessThanOrEqual(100_000);
    expect(bots).toBe(Math.floor(100_000 / (one + 200)));
    expect(bots).toBeLessThan(8);
    const loads = h.loads();
    await h.lookup('h');
    expect(h.loads()).toBe(loads);
    await h.lookup('a');
    expect(h.loads()).toBe(loads + 1);
  });
});

describe('batched chunk loads (first loads of many bots in one statement)', () => {
  /** A repository that counts its statements and answers each bot with `sizes` chunks (2 by default). */
  function repository(sizes = new Map<string, number>()) {
    const statements: string[][] = [];
    return {
      statements,
      chunks: {
        ofBots: async (botIds: readonly string[], max: number) => {
          statements.push([...botIds]);
          return new Map(
            botIds.map((id) => {
              const count = sizes.get(id) ?? 2;
              return [id, count > max ? undefined : stored(count)] as const;
            }),
          );
        },
      },
    };
  }

  it('shares one statement among the loads asked for together, each bot getting its own chunks', async () => {
    const sizes = new Map([
      ['b', 3],
      ['big', 9],
    ]);
    const repo = repository(sizes);
    const load = batchChunkLoads(repo.chunks, { botMaxChunks: 5, windowMillis: 0, maxBatch: 10 });
    const [a, b, big] = await Promise.all(['a', 'b', 'big'].map(load));
    expect(repo.statements).toEqual([['a', 'b', 'big']]);
    expect(a!.sourceIds).toHaveLength(2);
    expect(b!.sourceIds).toHaveLength(3);
    expect(big).toBeUndefined();
    // Nothing is kept here: a later load asks again.
    await load('a');
    expect(repo.statements).toEqual([['a', 'b', 'big'], ['a']]);
  });

  it('splits a crowd of first loads into statements of at most maxBatch bots', async () => {
    const repo = repository();
    const load = batchChunkLoads(repo.chunks, { botMaxChunks: 5, windowMillis: 0, maxBatch: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => load(`bot-${i}`)));
    expect(repo.statements.map((ids) => ids.length)).toEqual([4, 4, 2]);
  });
});
