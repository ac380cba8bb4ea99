import type { InvalidationWatcher } from '../../src/cache/entity-cache';
import { createResponseCache } from '../../src/cache/response-cache';

/** The `data` of a stored response body, or undefined. */
const dataOf = (json: string | undefined): unknown => (json === undefined ? undefined : JSON.parse(json).data);

function harness(maxBytes = 1_000_000) {
  const watchers: InvalidationWatcher[] = [];
  let listening = true;
  const cache = createResponseCache({
    feed: { listening: () => listening, watch: (watcher) => void watchers.push(watcher) },
    maxBytes,
  });
  return {
    cache,
    hear: (dropped: readonly string[] | 'all') => watchers.forEach((watcher) => watcher(dropped)),
    setListening: (value: boolean) => (listening = value),
  };
}

describe('the response cache (whole results, dropped with what they read)', () => {
  it('serves a stored result until an invalidation of any key it read, and only that', () => {
    const { cache, hear } = harness();
    cache.store('a', { bot: 'A' }, ['bot:{1}', 'user:{9}'], cache.begin());
    cache.store('b', { bot: 'B' }, ['bot:{2}', 'user:{9}'], cache.begin());
    expect(dataOf(cache.get('a'))).toEqual({ bot: 'A' });
    hear(['bot:{1}', 'source:{7}']);
    expect(cache.get('a')).toBeUndefined();
    expect(dataOf(cache.get('b'))).toEqual({ bot: 'B' });
    hear(['user:{9}']);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ entries: 0, tags: 0 });
  });

  it('stores nothing read by a request during which an invalidation was heard', () => {
    const { cache, hear } = harness();
    const begun = cache.begin();
    hear(['bot:{1}']);
    expect(cache.store('a', { bot: 'old' }, ['bot:{1}'], begun)).toBe(false);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.store('a', { bot: 'new' }, ['bot:{1}'], cache.begin())).toBe(true);
  });

  it('drops everything when invalidations may be missed, and stores nothing while they cannot arrive', () => {
    const { cache, hear, setListening } = harness();
    cache.store('a', { bot: 'A' }, ['bot:{1}'], cache.begin());
    setListening(false);
    hear('all');
    expect(cache.usable()).toBe(false);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.store('b', { bot: 'B' }, ['bot:{2}'], cache.begin())).toBe(false);
  });

  it('stays within its byte bound and forgets the tags of what it evicts', () => {
    const { cache } = harness(5_000);
    for (let i = 0; i < 50; i++) cache.store(`k${i}`, { blob: 'x'.repeat(500) }, [`bot:{${i}}`], cache.begin());
    const { entries, bytes, tags } = cache.stats();
    expect(bytes).toBeLessThanOrEqual(5_000);
    expect(entries).toBeLessThan(10);
    expect(tags).toBe(entries);
    expect(cache.get('k49')).toBeDefined();
    expect(cache.get('k0')).toBeUndefined();
  });

  it('replaces a result with its new tags, the old ones no longer dropping it', () => {
    const { cache, hear } = harness();
    cache.store('a', { v: 1 }, ['bot:{1}'], cache.begin());
    cache.store('a', { v: 2 }, ['bot:{2}'], cache.begin());
    hear(['bot:{1}']);
    expect(dataOf(cache.get('a'))).toEqual({ v: 2 });
    hear(['bot:{2}']);
    expect(cache.get('a')).toBeUndefined();
  });
});
