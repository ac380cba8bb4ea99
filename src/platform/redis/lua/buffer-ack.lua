#!lua flags=allow-oom
-- buffer-ack: forgets intents that are in PostgreSQL now (or were dropped for good), after COMMIT.
-- KEYS[1] claim list   KEYS[2] queued index   KEYS[3] stats hash
-- KEYS[3 + i] the conversation hash of intent i
-- ARGV[1] the wait of the oldest intent, ms (the flush lag)
-- ARGV[2 + 3(i-1)], ARGV[3 + 3(i-1)], ARGV[4 + 3(i-1)]: intent i's claimed JSON, its id, its reply id
-- returns how many of them were still in the claim list
local removed = 0
local count = #KEYS - 3
-- The claim holds exactly these when it holds as many (only its own loop adds to a claim, and
-- it acknowledges before it claims again): then one DEL, not a LREM each.
if redis.call('LLEN', KEYS[1]) == count then
  removed = count
  redis.call('DEL', KEYS[1])
else
  for i = 1, count do removed = removed + redis.call('LREM', KEYS[1], 1, ARGV[2 + (i - 1) * 3]) end
end
-- One HDEL for the queued index, one per conversation hash.
local ids = {}
local byConversation = {}
local conversations = {}
for i = 1, count do
  local at = 2 + (i - 1) * 3
  ids[#ids + 1] = ARGV[at + 1]
  ids[#ids + 1] = ARGV[at + 2]
  local key = KEYS[3 + i]
  if not byConversation[key] then
    byConversation[key] = {}
    conversations[#conversations + 1] = key
  end
  table.insert(byConversation[key], ARGV[at + 1])
end
redis.call('HDEL', KEYS[2], unpack(ids))
for _, key in ipairs(conversations) do redis.call('HDEL', key, unpack(byConversation[key])) end
local second = tonumber(redis.call('TIME')[1])
redis.call('HINCRBY', KEYS[3], 'flushed', count)
redis.call('HINCRBY', KEYS[3], 's:' .. second, count)
redis.call('HSET', KEYS[3], 'lagMillis', ARGV[1], 'lastFlushAt', second)
-- per-second counts serve the flush rate of the last minute; older ones go (a few dozen fields)
for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
  if string.sub(field, 1, 2) == 's:' and tonumber(string.sub(field, 3)) < second - 60 then
    redis.call('HDEL', KEYS[3], field)
  end
end
return removed
