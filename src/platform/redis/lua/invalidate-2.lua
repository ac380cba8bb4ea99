-- invalidate: drops a cached value and moves its generation on, so a loader that read the
-- database before this cannot write its value back.
-- KEYS[1] value key            KEYS[2] generation key (same hash tag)
-- ARGV[1] TTL of the generation key in seconds (longer than any database read)
-- returns the new generation
redis.call('UNLINK', KEYS[1])
local generation = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
return generation
