#!lua flags=allow-oom
-- buffer-renew: extends a live lease; a lease the reaper already took back stays gone.
-- KEYS[1] claims (sorted set)   ARGV[1] claim id   ARGV[2] lease in ms
-- returns 1 when renewed, 0 when the claim is no longer registered
--- @include "redis-now-millis"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local now = redisNowMillis()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
