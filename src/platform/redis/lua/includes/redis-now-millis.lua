-- redisNowMillis(): Redis' clock in milliseconds. Every api instance and worker reads this one
-- clock, where their own may drift apart.
local function redisNowMillis()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
