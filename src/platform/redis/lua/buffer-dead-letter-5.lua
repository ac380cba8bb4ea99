-- buffer-dead-letter: moves an intent that will not go into PostgreSQL to the dead letters,
-- marks its messages FAILED and frees its idempotency key (a retry is a new send).
-- KEYS[1] claim list   KEYS[2] dead letters (hash)   KEYS[3] queued index   KEYS[4] failed index
-- KEYS[5] idempotency key (unused when ARGV[6] is '0')
-- ARGV[1] the claimed JSON   ARGV[2] dead-letter id   ARGV[3] dead-letter entry JSON
-- ARGV[4] user message id ('' when unreadable)   ARGV[5] reply id   ARGV[6] '1' when the send had a key
-- ARGV[7] failed-index value JSON
-- returns 1 when dead-lettered, 0 when it was no longer claimed
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HDEL', KEYS[3], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[7], ARGV[5], ARGV[7])
end
if ARGV[6] == '1' then redis.call('DEL', KEYS[5]) end
return 1
