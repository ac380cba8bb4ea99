-- sliding-window-hit: one exact sliding-window check of one counter, by Redis' clock (app
-- clocks may drift): admits the request when the units admitted in the window before now,
-- plus its cost, stay within the limit, and records it.
-- KEYS[1] the counter: a sorted set of admissions, scored by time in ms
-- ARGV[1] limit   ARGV[2] window in ms   ARGV[3] cost (units)   ARGV[4] a member unique to this request
-- returns { admitted (1|0), units in the window after, ms until it would be admitted (0 when
--           admitted), ms until the oldest unit leaves the window }
--- @include "redis-now-millis"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = redisNowMillis()
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
