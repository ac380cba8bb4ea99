#!lua flags=allow-oom
-- buffer-return: gives a claim's intents back to the pending list (next in line) and
-- unregisters it: the reaper's step for an expired lease, and a stopping worker's own.
-- KEYS[1] claims (sorted set)   KEYS[2] claim list   KEYS[3] pending list
-- ARGV[1] claim id   ARGV[2] '1' to return only if the lease has run out
-- returns how many intents went back, or -1 when the lease is still live
--- @include "redis-now-millis"
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[2] == '1' and deadline then
  local now = redisNowMillis()
  if tonumber(deadline) > now then return -1 end
end
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT') do moved = moved + 1 end
redis.call('ZREM', KEYS[1], ARGV[1])
return moved
