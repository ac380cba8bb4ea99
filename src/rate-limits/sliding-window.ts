import { LRUCache } from 'lru-cache';

/** One counter's answer to a request for `cost` units. */
export interface WindowResult {
  admitted: boolean;
  /** Units counted in the window after this request (unchanged when refused). */
  count: number;
  /**
   * Milliseconds until enough units leave the window for this request to be admitted (0 when
   * admitted): what Retry-After says, rounded up to whole seconds.
   */
  retryAfterMillis: number;
  /** Milliseconds until the oldest counted unit leaves the window (the window when empty). */
  resetMillis: number;
}

/**
 * An exact sliding window (a log of admission times): a request is admitted when fewer than
 * `limit - cost + 1` units were admitted in the `windowMillis` before it. Unlike a fixed
 * window, no burst straddling a boundary can admit up to twice the limit.
 */
export interface SlidingWindow {
  hit(key: string, limit: number, windowMillis: number, cost: number, member: string): Promise<WindowResult>;
  /** Takes back an admission (`member`, `cost` units), when another counter of the same request refused it. */
  undo(key: string, member: string, cost: number): Promise<void>;
  /** What an in-memory window holds (keys and estimated bytes); absent for Redis. */
  size?(): { keys: number; bytes: number };
}

/**
 * The window arithmetic on a sorted log of admission times, shared by the in-memory window
 * and (in Lua) the Redis one: entries at or before `now - windowMillis` have left.
 */
export function decide(
  times: readonly number[],
  now: number,
  limit: number,
  windowMillis: number,
  cost: number,
): WindowResult & { live: number } {
  let first = 0;
  while (first < times.length && times[first]! <= now - windowMillis) first++;
  const live = times.length - first;
  const resetMillis = live > 0 ? times[first]! + windowMillis - now : windowMillis;
  if (live + cost <= limit) return { admitted: true, count: live + cost, retryAfterMillis: 0, resetMillis, live };
  // The request fits once the oldest `live + cost - limit` admissions have left the window.
  const mustLeave = live + cost - limit;
  const retryAfterMillis = cost > limit ? windowMillis : times[first + mustLeave - 1]! + windowMillis - now;
  return { admitted: false, count: live, retryAfterMillis, resetMillis, live };
}

/** Counters the in-memory window keeps at most (the least recently used go first). */
const MEMORY_MAX_KEYS = 100_000;
/** And bytes, roughly: a flood of distinct keys, or of long ones, cannot grow it past this. */
const MEMORY_MAX_BYTES = 32 * 1024 * 1024;
/** What a counter costs besides its key and units: the map entry, the log object, two arrays. */
const LOG_OVERHEAD_BYTES = 160;
/** One admitted unit: a time and a member in two arrays (the member string is shared per request). */
const UNIT_BYTES = 16;

interface Log {
  times: number[];
  members: string[];
}

/**
 * Per instance, in memory: the global policy, and every policy while Redis cannot be reached.
 * Bounded in keys and in bytes, and a refused request adds nothing: only admissions are kept,
 * so a client over its limit, however many keys it invents, holds no more than its limit.
 */
export function createMemoryWindow(
  options: { now?: () => number; maxKeys?: number; maxBytes?: number } = {},
): SlidingWindow {
  const now = options.now ?? Date.now;
  // Each key's admissions, oldest first, with their members (for undo).
  const logs = new LRUCache<string, Log>({
    max: options.maxKeys ?? MEMORY_MAX_KEYS,
    maxSize: options.maxBytes ?? MEMORY_MAX_BYTES,
    sizeCalculation: (log, key) => LOG_OVERHEAD_BYTES + 2 * key.length + UNIT_BYTES * log.times.length,
  });
  return {
    async hit(key, limit, windowMillis, cost, member) {
      const at = now();
      const log = logs.get(key) ?? { times: [], members: [] };
      const result = decide(log.times, at, limit, windowMillis, cost);
      const expired = log.times.length - result.live;
      log.times.splice(0, expired);
      log.members.splice(0, expired);
      if (result.admitted) {
        for (let i = 0; i < cost; i++) {
          log.times.push(at);
          log.members.push(member);
        }
      }
      // Stored again to update its size; an empty log is forgotten rather than kept.
      if (log.times.length > 0) logs.set(key, log);
      else logs.delete(key);
      const { live: _live, ...answer } = result;
      return answer;
    },
    async undo(key, member, _cost) {
      const log = logs.get(key);
      if (!log) return;
      for (let i = log.members.length - 1; i >= 0; i--) {
        if (log.members[i] === member) {
          log.members.splice(i, 1);
          log.times.splice(i, 1);
        }
      }
      if (log.times.length > 0) logs.set(key, log);
      else logs.delete(key);
    },
    size: () => ({ keys: logs.size, bytes: logs.calculatedSize }),
  };
}
