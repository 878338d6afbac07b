-- wrk script: as-of queries at random times over the history, on random buses.
-- Environment: MADBUS_KEY, MADBUS_GROUP, FROM_MS, TO_MS; BUS_IDS, comma-separated (default
-- B001,B002,B003: the buses of line L1). LATEST=1 asks for the latest position of the same
-- random buses instead, each request built the same way (the fair baseline for as-of: wrk
-- shares the machine, and building a request per call costs it more than a fixed one).
local key, group = os.getenv("MADBUS_KEY"), os.getenv("MADBUS_GROUP")
local from, to = tonumber(os.getenv("FROM_MS")), tonumber(os.getenv("TO_MS"))
local ids = {}
for id in string.gmatch(os.getenv("BUS_IDS") or "B001,B002,B003", "[^,]+") do
  ids[#ids + 1] = id
end
math.randomseed(os.time())
wrk.headers["x-api-key"] = key
wrk.headers["x-group-name"] = group
local latest = os.getenv("LATEST") == "1"
request = function()
  local t = from + math.floor(math.random() * (to - from))
  local query = latest and "?mode=latest" or "?timestamp=" .. t
  return wrk.format("GET", "/bus-position/" .. ids[math.random(#ids)] .. query)
end
