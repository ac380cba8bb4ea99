-- vector-count: counts one search in the deployment's popular-query set, which the worker's
-- warmer reads, and keeps the set bounded between the warmer's runs: past twice ARGV[2]
-- members, the least asked are dropped down to ARGV[2] (amortised O(log n) per call).
-- KEYS[1] popular-query set   vector-popular (sorted set)
-- ARGV[1] member: JSON [botId, limit, normalised query]
-- ARGV[2] members kept when trimming
-- returns the member's new count
local score = redis.call('ZINCRBY', KEYS[1], 1, ARGV[1])
local keep = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) > 2 * keep then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(keep + 1))
end
return score
