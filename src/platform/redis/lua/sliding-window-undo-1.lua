-- sliding-window-undo: takes back one request's admission, when another counter refused it.
-- KEYS[1] the counter   ARGV[1] the request's member   ARGV[2] its cost
-- returns how many units were taken back
local removed = 0
for i = 1, tonumber(ARGV[2]) do
  removed = removed + redis.call('ZREM', KEYS[1], ARGV[1] .. ':' .. i)
end
return removed
