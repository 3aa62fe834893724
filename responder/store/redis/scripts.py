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
-- KEYS: last, live, history, ids; ARGV: doc id, expected version ('' = any), body
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local live = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= live then
  return {-1, live}
end
local version = last + 1
redis.call('HSET', KEYS[1], ARGV[1], version)
redis.call('HSET', KEYS[2], ARGV[1], version)
redis.call('HSET', KEYS[3], version, ARGV[3])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
return {version, live}
"""

GET_DOCUMENT = """
-- KEYS: live, history; ARGV: doc id -> {version, body} or {}
local version = redis.call('HGET', KEYS[1], ARGV[1])
if not version then return {} end
return {version, redis.call('HGET', KEYS[2], version)}
"""

DELETE_DOCUMENT = """
-- KEYS: last, live, ids; ARGV: doc id
local live = redis.call('HGET', KEYS[2], ARGV[1])
if not live then return 0 end
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or live)
redis.call('HSET', KEYS[1], ARGV[1], last + 1)
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""

LIST_DOCUMENTS = """
-- KEYS: live, ids; ARGV: the history key's prefix, an id prefix
-- -> {id, version, body, ...} of the live documents whose id starts with it.
-- ``ids`` (every live id, score 0: in id order) is rebuilt from ``live``
-- when they disagree (documents written before it was kept).
if redis.call('ZCARD', KEYS[2]) ~= redis.call('HLEN', KEYS[1]) then
  redis.call('DEL', KEYS[2])
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
    redis.call('ZADD', KEYS[2], 0, id)
  end
end
local out = {}
local ids = redis.call('ZRANGEBYLEX', KEYS[2], '[' .. ARGV[2], '(' .. ARGV[2] .. '\\255')
for _, id in ipairs(ids) do
  local version = redis.call('HGET', KEYS[1], id)
  if version then
    local body = redis.call('HGET', ARGV[1] .. id, version)
    if body then
      out[#out + 1] = id
      out[#out + 1] = version
      out[#out + 1] = body
    end
  end
end
return out
"""

APPEND_AUDIT = """
-- KEYS: log stream, subject list; ARGV: subject, entry JSON
local id = redis.call('XADD', KEYS[1], '*', 's', ARGV[1], 'e', ARGV[2])
redis.call('RPUSH', KEYS[2], id)
return id
"""

COMMIT = """
-- The writes of one commit, in order. ARGV[1] namespace; ARGV[2] the ops as
-- JSON [[op, head], ...]; ARGV[2 + n] the body of op n.
--   I [id, correlation_key, state, type, severity, environment, created, open,
--      indexed, {name: value}, due or null] ''
--                                              an incident's indexes (its body
--                                              is SET beside the script)
--   D [collection, id, expected or null] document-JSON
--                                              a document (not written when
--                                              its expected version is stale)
--   A subject entry-JSON                       an audit entry
--   K [key, value or null, ttl ms] ''          a key set with expiry (or deleted)
--   U tag token                                a lock released (if it holds the token)
-- Returns "<stale D ops' numbers>|<audit ids>", both comma-separated.
local ns = ARGV[1]
local inc = ns .. ':{incidents}:'
local stale, ids = {}, {}
for n, entry in ipairs(cjson.decode(ARGV[2])) do
  local op, head = entry[1], entry[2]
  local body = ARGV[2 + n]
  if op == 'I' then
    local h = head
    local id, corr, state = h[1], h[2], h[3]
    local old = redis.call('HGET', inc .. 'meta', id)
    local old_state, old_corr, old_names = false, false, {}
    if old then
      local meta = cjson.decode(old)
      old_state, old_corr = meta[1], meta[5]
      if meta[6] then old_names = meta[6] end
    end
    redis.call('ZADD', inc .. 'created', h[7], id)
    if old_state and old_state ~= state then
      redis.call('SREM', inc .. 'state:' .. old_state, id)
    end
    redis.call('SADD', inc .. 'state:' .. state, id)
    local open_key = inc .. 'open:' .. corr
    if h[8] then
      redis.call('SET', open_key, id)
    elseif redis.call('GET', open_key) == id then
      redis.call('DEL', open_key)
    end
    if old_corr and old_corr ~= corr and redis.call('GET', inc .. 'open:' .. old_corr) == id then
      redis.call('DEL', inc .. 'open:' .. old_corr)
    end
    local names = old_names
    if h[9] then
      local entries = h[10]
      for _, name in ipairs(old_names) do
        if entries[name] == nil then redis.call('HDEL', inc .. 'index:' .. name, id) end
      end
      names = {}
      for name, value in pairs(entries) do
        redis.call('HSET', inc .. 'index:' .. name, id, value)
        names[#names + 1] = cjson.encode(name)
      end
      if h[11] == cjson.null then
        redis.call('ZREM', inc .. 'due', id)
      else
        redis.call('ZADD', inc .. 'due', h[11], id)
      end
    else
      local kept = {}
      for _, name in ipairs(old_names) do kept[#kept + 1] = cjson.encode(name) end
      names = kept
    end
    local meta = '[' .. cjson.encode(state) .. ',' .. cjson.encode(h[4]) .. ','
      .. cjson.encode(h[5]) .. ',' .. cjson.encode(h[6]) .. ',' .. cjson.encode(corr)
      .. ',[' .. table.concat(names, ',') .. ']]'
    redis.call('HSET', inc .. 'meta', id, meta)
  elseif op == 'D' then
    local h = head
    local docs = ns .. ':{docs:' .. h[1] .. '}:'
    local id = h[2]
    local last = tonumber(redis.call('HGET', docs .. 'last', id) or '0')
    local live = tonumber(redis.call('HGET', docs .. 'live', id) or '0')
    if h[3] ~= cjson.null and tonumber(h[3]) ~= live then
      stale[#stale + 1] = n
    else
      local version = last + 1
      redis.call('HSET', docs .. 'last', id, version)
      redis.call('HSET', docs .. 'live', id, version)
      redis.call('HSET', docs .. 'history:' .. id, version, body)
      redis.call('ZADD', docs .. 'ids', 0, id)
    end
  elseif op == 'A' then
    local id = redis.call('XADD', ns .. ':{audit}:log', '*', 's', head, 'e', body)
    redis.call('RPUSH', ns .. ':{audit}:subject:' .. head, id)
    ids[#ids + 1] = id
  elseif op == 'K' then
    local h = head
    local key = ns .. ':{key:' .. h[1] .. '}'
    if h[2] == cjson.null then
      redis.call('DEL', key)
    else
      redis.call('SET', key, h[2], 'PX', h[3])
    end
  elseif op == 'U' then
    local key = ns .. ':{' .. head .. '}'
    if redis.call('GET', key) == body then redis.call('DEL', key) end
  else
    return redis.error_reply('unknown commit op ' .. tostring(op))
  end
end
return table.concat(stale, ',') .. '|' .. table.concat(ids, ',')
"""

ACQUIRE_LOCKS = """
-- ARGV: ttl ms, then key token pairs; -> 1/0 per pair (taken or not)
local out = {}
for i = 2, #ARGV, 2 do
  if redis.call('SET', ARGV[i], ARGV[i + 1], 'NX', 'PX', ARGV[1]) then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""

RELEASE_LOCKS = """
-- ARGV: key token pairs; a key is deleted only while it holds its token
for i = 1, #ARGV, 2 do
  if redis.call('GET', ARGV[i]) == ARGV[i + 1] then redis.call('DEL', ARGV[i]) end
end
return 1
"""

LOCK_OPEN_INCIDENTS = """
-- ARGV: ttl ms, lock count n, the incidents' key prefix, n lock key token
-- pairs, then correlation keys -> {1/0 per lock, the open body of each key or ''}
local n = tonumber(ARGV[2])
local inc = ARGV[3]
local taken, bodies = {}, {}
for i = 0, n - 1 do
  if redis.call('SET', ARGV[4 + 2 * i], ARGV[5 + 2 * i], 'NX', 'PX', ARGV[1]) then
    taken[#taken + 1] = 1
  else
    taken[#taken + 1] = 0
  end
end
for i = 4 + 2 * n, #ARGV do
  local id = redis.call('GET', inc .. 'open:' .. ARGV[i])
  local body = id and redis.call('GET', inc .. 'body:' .. id)
  bodies[#bodies + 1] = body or ''
end
return {taken, bodies}
"""

RENEW_LEASES = """
-- KEYS[1] stream, KEYS[2] leases; ARGV: group, consumer, lease ms, entry ids
-- -> the ids renewed: still pending for this consumer, lease not run out
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local deadline = redis.call('ZSCORE', KEYS[2], id)
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  if deadline and tonumber(deadline) > now and pending[1] and pending[1][2] == ARGV[2] then
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
    out[#out + 1] = id
  end
end
return out
"""
