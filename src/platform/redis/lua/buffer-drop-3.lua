#!lua flags=allow-oom
-- buffer-drop: an operator discards a dead letter for good; its messages become unknown.
-- KEYS[1] dead letters   KEYS[2] failed index   KEYS[3] the conversation's intents
-- ARGV[1] dead-letter id   ARGV[2] user message id ('' when unreadable)   ARGV[3] reply id
-- returns 1 when dropped, 0 when there was no such dead letter
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' then
  redis.call('HDEL', KEYS[2], ARGV[2], ARGV[3])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
return 1
