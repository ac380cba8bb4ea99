-- buffer-stats: one consistent reading of the buffer. Separate reads could count an intent
-- that moved between them in neither place (a claim given back to the pending list after
-- the list was read, and gone from the claims before they were), so a drained-looking
-- buffer still held it. Reads only: it runs while Redis is full.
-- KEYS[1] pending list   KEYS[2] claims (claim id -> lease deadline)   KEYS[3] dead letters
-- KEYS[4] flush stats
-- ARGV[1] the claim lists' key prefix (the claim id follows it): which claim lists exist is
--         what this reads, so they cannot come in KEYS; they share the {buffer} slot
-- returns { pending depth, oldest pending intent JSON or nil, dead letters, the stats hash
--           as a flat list, { intents held per claim }, { each claim's oldest intent JSON } }
local held, oldest = {}, {}
for i, claimId in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local claim = ARGV[1] .. claimId
  held[i] = redis.call('LLEN', claim)
  -- a claim list fills from its left end: its right end is the oldest intent it took
  oldest[i] = redis.call('LINDEX', claim, -1)
end
return { redis.call('LLEN', KEYS[1]), redis.call('LINDEX', KEYS[1], -1), redis.call('HLEN', KEYS[3]),
  redis.call('HGETALL', KEYS[4]), held, oldest }
