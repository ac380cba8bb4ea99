import { LRUCache } from 'lru-cache';
import type { InvalidationFeed } from './coherent-memory';

/** What an entry costs besides its key, JSON and tags: the LRU's node, the index sets. An estimate. */
const ENTRY_OVERHEAD_BYTES = 200;

/**
 * What one request read, for the response cache: the cache keys of everything it loaded (its
 * tags), and whether all it read is covered by them. A read of anything invalidation does not
 * name (message counters, conversations, the write buffer) makes the response uncacheable.
 */
export interface RequestReads {
  readonly tags: Set<string>;
  cacheable: boolean;
}

export const newRequestReads = (): RequestReads => ({ tags: new Set(), cacheable: true });

interface Entry {
  /** The response body as it goes out: `{"data":…}`. */
  json: string;
  tags: string[];
  bytes: number;
}

export type ResponseCache = ReturnType<typeof createResponseCache>;

/**
 * Whole query results held in process, each tagged with the cache keys of the entities its
 * resolvers loaded, and dropped on the same invalidations as those entities (coherent-memory.ts
 * gives the rules): any change to a tagged entity, by any api or worker, drops every result that
 * read it. A result whose request overlapped any invalidation is not stored (`begin` / `store`),
 * nothing is stored or served while invalidations cannot arrive, and losing the subscription
 * drops everything. So entries need no TTL. Keys are the caller's (they name the viewer: one
 * viewer's result is never another's). Bounded in bytes of JSON.
 */
export function createResponseCache(options: { feed: InvalidationFeed; maxBytes: number }) {
  const { feed } = options;
  /** Entry keys by tag, for dropping. */
  const byTag = new Map<string, Set<string>>();
  const entries = new LRUCache<string, Entry>({
    maxSize: Math.max(1, options.maxBytes),
    sizeCalculation: (entry, key) => key.length + entry.bytes + ENTRY_OVERHEAD_BYTES,
    // Evicted or replaced: out of the tag index too.
    dispose: (entry, key) => {
      for (const tag of entry.tags) {
        const keys = byTag.get(tag);
        keys?.delete(key);
        if (keys?.size === 0) byTag.delete(tag);
      }
    },
  });
  /** Moves on with every invalidation heard: a request that saw it move stores nothing. */
  let sequence = 0;
  let hits = 0;
  let misses = 0;

  feed.watch((dropped) => {
    sequence++;
    if (dropped === 'all') {
      entries.clear();
      return;
    }
    for (const tag of dropped) {
      const keys = byTag.get(tag);
      if (!keys) continue;
      for (const key of [...keys]) entries.delete(key);
    }
  });

  return {
    /** Whether results may be served and stored now. */
    usable: (): boolean => feed.listening(),

    /** The stored response body (`{"data":…}`, JSON), or undefined. */
    get(key: string): string | undefined {
      const entry = entries.get(key);
      if (entry) hits++;
      else misses++;
      return entry?.json;
    },

    /** Marks the start of a request whose result may be stored: pass it back to `store`. */
    begin: (): number => sequence,

    /**
     * Stores a result (its `data`) read under `tags` if no invalidation was heard since `begun`:
     * serialized once, here, and sent as it is to every request it answers.
     */
    store(key: string, data: unknown, tags: Iterable<string>, begun: number): boolean {
      if (begun !== sequence || !feed.listening()) return false;
      const tagList = [...tags];
      const json = JSON.stringify({ data });
      const bytes = json.length + tagList.reduce((sum, tag) => sum + tag.length, 0);
      entries.set(key, { json, tags: tagList, bytes });
      if (!entries.has(key)) return false;
      for (const tag of tagList) {
        let keys = byTag.get(tag);
        if (!keys) byTag.set(tag, (keys = new Set()));
        keys.add(key);
      }
      return true;
    },

    stats: () => ({ entries: entries.size, bytes: entries.calculatedSize, tags: byTag.size, hits, misses }),
  };
}
