-- vector-get: reads a bot's cached search result in one round trip, if the bot's vector
-- version is the one the caller expects (its last-seen one: it changes only with the sources).
-- KEYS[1] version key   vector-version:{botId}
-- KEYS[2] result key    vector:{botId}:<ARGV[1]>:<queryHash>   (same hash tag: one slot)
-- ARGV[1] expected version ('0' when the caller has seen none)
-- returns { version, result }: version is the current one, '0' when the key is missing (no
-- result is ever stored under '0', so none is read); result is the JSON, or nil when there is
-- none or the version is not ARGV[1] (the caller then reads the result key of the version
-- returned)
local version = redis.call('GET', KEYS[1])
if not version then
  return { '0', false }
end
if version ~= ARGV[1] then
  return { version, false }
end
return { version, redis.call('GET', KEYS[2]) }
