-- vector-bump: makes every cached search result of a bot unreachable in O(1): the version is
-- part of each result key, so the old results are never read again and expire by their TTL.
-- The new version is random (ARGV[1]), not a count: a version key that was evicted or expired
-- and is created again never takes a value its old results were stored under.
-- The version key keeps at least ARGV[2] ms to live (never shortened): twice the results' TTL.
-- KEYS[1] version key   vector-version:{botId}
-- ARGV[1] the new version (random, from 1 to 2^48)
-- ARGV[2] least TTL of the version key in milliseconds
-- returns the new version
local version = ARGV[1]
if redis.call('GET', KEYS[1]) == version then
  -- The same random number twice (one chance in 2^48) would invalidate nothing.
  version = string.format('%.0f', tonumber(version) + 1)
end
local ttl = math.max(redis.call('PTTL', KEYS[1]), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], version, 'PX', ttl)
return version
