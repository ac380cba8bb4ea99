-- set-if-generation: writes a value loaded from PostgreSQL back to the cache, unless the
-- entity was invalidated since the loader read its generation (its value would be stale).
-- KEYS[1] value key            KEYS[2] generation key (same hash tag)
-- ARGV[1] generation read before the database query ('' when there was none)
-- ARGV[2] value                ARGV[3] TTL in seconds
-- returns 1 when written, 0 when the generation moved on
local generation = redis.call('GET', KEYS[2]) or ''
if generation ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
