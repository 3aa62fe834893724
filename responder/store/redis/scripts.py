"""The Lua scripts of the Redis store: each runs atomically on the server."""

CLAIM = """
-- KEYS[1] stream, KEYS[2] leases; ARGV: group, consumer, max entries, lease ms
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[3])
local deadline = now + tonumber(ARGV[4])
local out = {}
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, max)
for _, id in ipairs(expired) do
  local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id)
  local entry = claimed[1]
  if entry and entry[2] then
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
    local deliveries = 1
    if pending[1] then deliveries = pending[1][4] end
    redis.call('ZADD', KEYS[2], deadline, id)
    out[#out + 1] = {id, entry[2], deliveries}
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
local room = max - #out
if room > 0 then
  local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', room,
                          'STREAMS', KEYS[1], '>')
  if read and read[1] then
    for _, entry in ipairs(read[1][2]) do
      redis.call('ZADD', KEYS[2], deadline, entry[1])
      out[#out + 1] = {entry[1], entry[2], 1}
    end
  end
end
return out
"""

DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

PUT_DOCUMENT = """
-- KEYS: last, live, history; ARGV: doc id, expected version ('' = any), body
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local live = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= live then
  return {-1, live}
end
local version = last + 1
redis.call('HSET', KEYS[1], ARGV[1], version)
redis.call('HSET', KEYS[2], ARGV[1], version)
redis.call('HSET', KEYS[3], version, ARGV[3])
return {version, live}
"""

GET_DOCUMENT = """
-- KEYS: live, history; ARGV: doc id -> {version, body} or {}
local version = redis.call('HGET', KEYS[1], ARGV[1])
if not version then return {} end
return {version, redis.call('HGET', KEYS[2], version)}
"""

DELETE_DOCUMENT = """
-- KEYS: last, live; ARGV: doc id
local live = redis.call('HGET', KEYS[2], ARGV[1])
if not live then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or live)
redis.call('HSET', KEYS[1], ARGV[1], last + 1)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""

APPEND_AUDIT = """
-- KEYS: log stream, subject list; ARGV: subject, entry JSON
local id = redis.call('XADD', KEYS[1], '*', 's', ARGV[1], 'e', ARGV[2])
redis.call('RPUSH', KEYS[2], id)
return id
"""
