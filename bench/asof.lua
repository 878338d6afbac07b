-- wrk script: as-of queries at random times over the history, on random L1 buses.
-- Environment: MADBUS_KEY, MADBUS_GROUP, FROM_MS, TO_MS.
local key, group = os.getenv("MADBUS_KEY"), os.getenv("MADBUS_GROUP")
local from, to = tonumber(os.getenv("FROM_MS")), tonumber(os.getenv("TO_MS"))
math.randomseed(os.time())
wrk.headers["x-api-key"] = key
wrk.headers["x-group-name"] = group
request = function()
  local t = from + math.floor(math.random() * (to - from))
  return wrk.format("GET", "/bus-position/B00" .. math.random(1, 3) .. "?timestamp=" .. t)
end
