#!lua flags=allow-oom
-- buffer-claim: (re)sets a worker's lease, then moves intents from the pending list into its
-- claim list until it holds ARGV[1]: a worker that dies holding them leaves them where the
-- reaper finds them once the lease runs out.
-- KEYS[1] pending list   KEYS[2] claim list   KEYS[3] claims (sorted set: claim id -> lease deadline, ms)
-- ARGV[1] most intents to hold   ARGV[2] lease in ms   ARGV[3] claim id
-- returns every intent in the claim list
--- @include "redis-now-millis"
local now = redisNowMillis()
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[3])
for i = redis.call('LLEN', KEYS[2]) + 1, tonumber(ARGV[1]) do
  if not redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT') then break end
end
return redis.call('LRANGE', KEYS[2], 0, -1)
