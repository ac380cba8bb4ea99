import { LRUCache } from 'lru-cache';
import type { InvalidationWatcher } from './entity-cache';

/** How an in-process memory hears of changes: the entity cache's invalidation subscription. */
export interface InvalidationFeed {
  /** Whether invalidations reach this process now; while not, nothing held may be trusted. */
  listening(): boolean;
  watch(watcher: InvalidationWatcher): void;
}

/** One load of an id's value; `dropped` once an invalidation of the id arrived while it ran. */
interface Load<V> {
  value: Promise<V | undefined>;
  dropped: boolean;
}

export interface CoherentMemoryOptions<V extends object> {
  feed: InvalidationFeed;
  /** The key that names an id in invalidations (from CacheKeys). */
  keyOf(id: string): string;
  /** The bounds of what is held (entries, bytes, a TTL): an LRU the caller sizes. */
  lru: LRUCache.Options<string, V, unknown>;
  /** The id's value from its store; undefined: none (nothing is kept). */
  load(id: string): Promise<V | undefined>;
  /** How long a loaded value may be held, in ms (a session: until its expiry); 0 or less: not at all. */
  ttlOf?(value: V): number;
}

/**
 * Values held in process until they change, by the rules of the entity cache's L1 (whose
 * subscription they share):
 * - an invalidation of an id's key, from this instance or any other, drops the id;
 * - a load under way when its id is dropped answers its callers but is not kept, and a
 *   request after the invalidation does not join it;
 * - when the subscription is lost (messages may be missed), everything is dropped, and no load
 *   is kept until it stands again. Callers ask the store themselves meanwhile (`listening`).
 * Concurrent first asks of an id share one load.
 */
export function createCoherentMemory<V extends object>(options: CoherentMemoryOptions<V>) {
  const { feed, keyOf } = options;
  const held = new LRUCache<string, V>(options.lru);
  const loads = new Map<string, Load<V>>();
  // The key of id X is head + X + tail: read the id back out of a dropped key.
  const [head = '', tail = ''] = keyOf('\n').split('\n');
  const idOf = (key: string) =>
    key.length > head.length + tail.length && key.startsWith(head) && key.endsWith(tail)
      ? key.slice(head.length, key.length - tail.length)
      : undefined;

  const drop = (id: string) => {
    held.delete(id);
    const load = loads.get(id);
    if (load) {
      load.dropped = true;
      loads.delete(id);
    }
  };
  feed.watch((dropped) => {
    if (dropped !== 'all') {
      for (const key of dropped) {
        const id = idOf(key);
        if (id !== undefined) drop(id);
      }
      return;
    }
    held.clear();
    for (const load of loads.values()) load.dropped = true;
    loads.clear();
  });

  function load(id: string): Load<V> {
    const started: Load<V> = { dropped: false, value: Promise.resolve(undefined) };
    started.value = options
      .load(id)
      .then((value) => {
        // Kept only if no invalidation of it was heard meanwhile and invalidations can still be heard.
        if (value === undefined || started.dropped || !feed.listening()) return value;
        const ttl = options.ttlOf?.(value);
        if (ttl === undefined) held.set(id, value);
        else if (ttl > 0) held.set(id, value, { ttl });
        return value;
      })
      .finally(() => {
        if (loads.get(id) === started) loads.delete(id);
      });
    loads.set(id, started);
    return started;
  }

  return {
    listening: (): boolean => feed.listening(),

    /** The value held, if any: no load. */
    held: (id: string): V | undefined => held.get(id),

    /** The id's value, held or loaded now. Rejects when the load fails. */
    get(id: string): Promise<V | undefined> {
      const value = held.get(id);
      if (value !== undefined) return Promise.resolve(value);
      return (loads.get(id) ?? load(id)).value;
    },

    /** Drops an id here (its own invalidation goes out through the feed's owner). */
    drop,

    /** The ids whose held values match. */
    idsWhere: (matches: (value: V) => boolean): string[] =>
      [...held.entries()].filter(([, value]) => matches(value)).map(([id]) => id),

    size: (): { entries: number; bytes: number } => ({ entries: held.size, bytes: held.calculatedSize }),
  };
}
