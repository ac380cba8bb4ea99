import type { Redis } from 'ioredis';
import type { SlidingWindow, WindowResult } from './sliding-window';

const SLIDING_WINDOW_HIT = `
-- sliding-window-hit: one exact sliding-window check of one counter, by Redis' clock (app
-- clocks may drift): admits the request when the units admitted in the window before now,
-- plus its cost, stay within the limit, and records it.
-- KEYS[1] the counter: a sorted set of admissions, scored by time in ms
-- ARGV[1] limit   ARGV[2] window in ms   ARGV[3] cost (units)   ARGV[4] a member unique to this request
-- returns { admitted (1|0), units in the window after, ms until it would be admitted (0 when
--           admitted), ms until the oldest unit leaves the window }
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local live = redis.call('ZCARD', KEYS[1])
local reset = window
if live > 0 then
  reset = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) + window - now
end
if live + cost <= limit then
  for i = 1, cost do
    redis.call('ZADD', KEYS[1], now, ARGV[4] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], window)
  return { 1, live + cost, 0, reset }
end
local retry = window
if cost <= limit then
  -- the request fits once the oldest live + cost - limit admissions have left
  local index = live + cost - limit - 1
  retry = tonumber(redis.call('ZRANGE', KEYS[1], index, index, 'WITHSCORES')[2]) + window - now
end
return { 0, live, retry, reset }
`;

const SLIDING_WINDOW_UNDO = `
-- sliding-window-undo: takes back one request's admission, when another counter refused it.
-- KEYS[1] the counter   ARGV[1] the request's member   ARGV[2] its cost
-- returns how many units were taken back
local removed = 0
for i = 1, tonumber(ARGV[2]) do
  removed = removed + redis.call('ZREM', KEYS[1], ARGV[1] .. ':' .. i)
end
return removed
`;

type Commands = Redis & {
  parleyWindowHit?: (key: string, ...args: (string | number)[]) => Promise<[number, number, number, number]>;
  parleyWindowUndo?: (key: string, ...args: (string | number)[]) => Promise<number>;
};

/**
 * The shared sliding window: counters in Redis, so every api instance counts against the same
 * limit. Each check is one script on one key (the key's hash tag names its slot).
 */
export function createRedisWindow(redis: Redis): SlidingWindow {
  const commands = redis as Commands;
  if (!commands.parleyWindowHit) {
    redis.defineCommand('parleyWindowHit', { numberOfKeys: 1, lua: SLIDING_WINDOW_HIT });
    redis.defineCommand('parleyWindowUndo', { numberOfKeys: 1, lua: SLIDING_WINDOW_UNDO });
  }
  return {
    async hit(key, limit, windowMillis, cost, member): Promise<WindowResult> {
      const [admitted, count, retryAfterMillis, resetMillis] = await commands.parleyWindowHit!(
        key,
        limit,
        windowMillis,
        cost,
        member,
      );
      return { admitted: admitted === 1, count, retryAfterMillis, resetMillis };
    },
    async undo(key, member, cost) {
      await commands.parleyWindowUndo!(key, member, cost);
    },
  };
}
