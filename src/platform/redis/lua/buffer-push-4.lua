-- buffer-push: acknowledges a chat exchange by queueing its intent, unless the sender's
-- idempotency key already names an earlier send, or the buffer is full.
-- KEYS[1] pending list            KEYS[2] queued index (message id -> conversation id)
-- KEYS[3] the conversation's intents (hash)   KEYS[4] idempotency key (unused when ARGV[6] is '0')
-- ARGV[1] intent JSON             ARGV[2] intent id (its user message id)   ARGV[3] reply id
-- ARGV[4] conversation id         ARGV[5] most intents the pending list may hold
-- ARGV[6] '1' when the send has an idempotency key   ARGV[7] its TTL in s
-- ARGV[8] status channel   ARGV[9] the two QUEUED events, one message (a JSON array): published
--         here, so they reach subscribers before any PERSISTED a worker publishes after its flush
-- returns { 'QUEUED', depth after } | { 'DUPLICATE', the first send's intent JSON } | { 'FULL', depth }
--
-- Every command here is paid on every send: LPUSH's reply is the depth (the intent is taken
-- back at once when that is over the bound: nothing ran in between), and the conversation's
-- hash has no TTL: the scripts that take an intent out of the buffer (ack, drop) delete its field.
if ARGV[6] == '1' then
  -- One command for the common case: claims the key, or reads the first send's answer.
  local first = redis.call('SET', KEYS[4], ARGV[1], 'NX', 'GET', 'EX', tonumber(ARGV[7]))
  if first then return { 'DUPLICATE', first } end
end
local depth = redis.call('LPUSH', KEYS[1], ARGV[1])
if depth > tonumber(ARGV[5]) then
  redis.call('LPOP', KEYS[1])
  -- Not queued: the key must not answer a retry as if it had been.
  if ARGV[6] == '1' then redis.call('DEL', KEYS[4]) end
  return { 'FULL', depth - 1 }
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('PUBLISH', ARGV[8], ARGV[9])
return { 'QUEUED', depth }
