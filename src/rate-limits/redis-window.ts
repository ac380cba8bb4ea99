import type { RedisClient } from '../platform/redis/connection';
import { defineScripts } from '../platform/redis/scripts';
import type { SlidingWindow, WindowResult } from './sliding-window';

/**
 * The shared sliding window: counters in Redis, so every api instance counts against the same
 * limit. Each check is one script on one key (the key's hash tag names its slot):
 * src/platform/redis/lua/sliding-window-*.lua.
 */
export function createRedisWindow(redis: RedisClient): SlidingWindow {
  const scripts = defineScripts(redis);
  return {
    async hit(key, limit, windowMillis, cost, member): Promise<WindowResult> {
      const [admitted, count, retryAfterMillis, resetMillis] = (await scripts.slidingWindowHit(
        key,
        limit,
        windowMillis,
        cost,
        member,
      )) as [number, number, number, number];
      return { admitted: admitted === 1, count, retryAfterMillis, resetMillis };
    },
    async undo(key, member, cost) {
      await scripts.slidingWindowUndo(key, member, cost);
    },
  };
}
