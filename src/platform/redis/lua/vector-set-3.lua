-- vector-set: stores a search result only if the bot's vector version is still the one read
-- before the result was computed; a result computed from chunks that changed meanwhile (the
-- version was replaced) is dropped, never stored under any version. A bot without a version
-- key gets one now (ARGV[2], random): a result is never stored under a missing version, which
-- an evicted or expired key would bring back. The version key is kept alive for at least
-- ARGV[5] ms (never shortened), so its results stay reachable while they live. Within the
-- bot's byte budget only: the budget key counts the bytes stored in a window of ARGV[4] s,
-- so at most twice the budget lives at once.
-- KEYS[1] version key   vector-version:{botId}
-- KEYS[2] result key    vector:{botId}:<ARGV[2]>:<queryHash>   (same hash tag: one slot)
-- KEYS[3] budget key    vector-budget:{botId}                  (same hash tag)
-- ARGV[1] version read before the query ('0': the version key was missing)
-- ARGV[2] version to store under: ARGV[1], or a new random one when ARGV[1] is '0'
-- ARGV[3] result JSON   ARGV[4] its TTL in seconds
-- ARGV[5] least TTL of the version key in milliseconds (twice ARGV[4])
-- ARGV[6] the bot's budget in bytes per window; 0: none (the warmer's few popular searches)
-- returns 1 when stored, 0 when the version moved on, -1 when over the budget
local current = redis.call('GET', KEYS[1])
if (current or '0') ~= ARGV[1] then
  return 0
end
local budget = tonumber(ARGV[6])
if budget > 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used + #ARGV[3] > budget then
    return -1
  end
  redis.call('INCRBY', KEYS[3], #ARGV[3])
  if redis.call('TTL', KEYS[3]) < 0 then
    redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
  end
end
local least = tonumber(ARGV[5])
if not current then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', least)
elseif redis.call('PTTL', KEYS[1]) < least then
  redis.call('PEXPIRE', KEYS[1], least)
end
redis.call('SET', KEYS[2], ARGV[3], 'EX', tonumber(ARGV[4]))
return 1
