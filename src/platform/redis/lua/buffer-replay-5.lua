-- buffer-replay: an operator sends a dead letter through the buffer again.
-- KEYS[1] dead letters   KEYS[2] pending list   KEYS[3] queued index   KEYS[4] failed index
-- KEYS[5] the conversation's intents
-- ARGV[1] intent id   ARGV[2] intent JSON with attempts at 0   ARGV[3] reply id   ARGV[4] conversation id
-- returns 1 when replayed, 0 when there was no such dead letter
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4], ARGV[3], ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[2])
return 1
