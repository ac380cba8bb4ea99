#!lua flags=allow-oom
-- buffer-requeue: after a failed attempt, puts an intent back at the far end of the pending
-- list with its attempt count raised, unless the reaper already returned it.
-- KEYS[1] claim list   KEYS[2] pending list
-- ARGV[1] the claimed JSON   ARGV[2] the same intent with attempts + 1
-- returns 1 when requeued, 0 when it was no longer claimed
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
