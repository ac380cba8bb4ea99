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
local want = tonumber(ARGV[1]) - redis.call('LLEN', KEYS[2])
if want > 0 then
  -- The oldest `want` at once (three commands however many), as that many LMOVE RIGHT LEFT would
  -- leave them: the oldest deepest in the claim list.
  local oldest = redis.call('LRANGE', KEYS[1], -want, -1)
  if #oldest > 0 then
    redis.call('LTRIM', KEYS[1], 0, -#oldest - 1)
    local reversed = {}
    for i = #oldest, 1, -1 do reversed[#reversed + 1] = oldest[i] end
    redis.call('LPUSH', KEYS[2], unpack(reversed))
  end
end
return redis.call('LRANGE', KEYS[2], 0, -1)
