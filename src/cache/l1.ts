import { LRUCache } from 'lru-cache';

/**
 * What one entry costs besides its key and JSON: the LRU's node and the entry object. An
 * estimate; the parsed value itself takes a small multiple of its JSON.
 */
const ENTRY_OVERHEAD_BYTES = 100;
/** "Not found" entries get this fraction of the L1's bytes, in a store of their own. */
const NOT_FOUND_SHARE = 10;

export interface L1Options {
  /** Bytes at most, counted as key + JSON + a fixed overhead (`CACHE_L1_MAX_BYTES`, 32 MiB by default); 0 turns the L1 off. */
  maxBytes: number;
  /**
   * How long an entry lives (`CACHE_L1_TTL_MILLIS`, 60 s by default). Invalidations drop entries
   * the moment their value changes, and a lost subscription empties the L1: this bounds only what
   * a message lost while the subscription stood would leave.
   */
  ttlMillis: number;
}

/**
 * The in-process cache in front of Redis: an LRU bounded in bytes (an entry larger than the
 * bound is not kept), so a working set of small entities fits whole, however many there are.
 *
 * "Not found" is kept in a store of its own, a tenth of the size: a client asking for random
 * ids then pushes out only other such answers, never the hot entities other requests read.
 * This is the only place a "not found" is cached: Redis never holds one (see entity-cache.ts).
 */
export function createL1(options: L1Options) {
  const found = new LRUCache<string, { value: unknown; bytes: number }>({
    maxSize: Math.max(1, options.maxBytes),
    sizeCalculation: (entry, key) => key.length + entry.bytes + ENTRY_OVERHEAD_BYTES,
    ttl: options.ttlMillis,
  });
  const notFound = new LRUCache<string, true>({
    maxSize: Math.max(1, Math.ceil(options.maxBytes / NOT_FOUND_SHARE)),
    sizeCalculation: (_entry, key) => key.length + ENTRY_OVERHEAD_BYTES,
    ttl: options.ttlMillis,
  });

  return {
    /** False when `maxBytes` is 0. */
    enabled: options.maxBytes > 0,

    /** `{ value }` on a hit (`value` null: cached "not found"), undefined on a miss. */
    get(key: string): { value: unknown } | undefined {
      const entry = found.get(key);
      if (entry) return { value: entry.value };
      return notFound.get(key) ? { value: null } : undefined;
    },

    /** `json`: the value's JSON, its size; null values ("not found") need none. */
    set(key: string, value: unknown, json: string): void {
      if (value === null) {
        found.delete(key);
        notFound.set(key, true);
      } else {
        notFound.delete(key);
        found.set(key, { value, bytes: json.length });
      }
    },

    delete(key: string): void {
      found.delete(key);
      notFound.delete(key);
    },

    clear(): void {
      found.clear();
      notFound.clear();
    },

    /** Entries and bytes held, found values and "not found" together. */
    size(): { entries: number; bytes: number } {
      return { entries: found.size + notFound.size, bytes: found.calculatedSize + notFound.calculatedSize };
    },
  };
}
