-- KEYS: the entry's and its bucket's. ARGV: base, now, key, the version it must hold, the new
-- expiry or '' to clear it (the host has checked the condition against
-- that version). Reply: {0, 0 unchanged | 1 set | 2 removed}, {1} (not
-- found) or {3, current version}.
local b = bucket(ARGV[1])
local now, key = tonumber(ARGV[2]), ARGV[3]
local old = load(b, key, now)
if not old then return { 1 } end
if tonumber(old[3]) ~= tonumber(ARGV[4]) then return { 3, tonumber(old[3]) } end
local at = expiry(ARGV[5])
if not at then
  if not old[4] then return { 0, 0 } end
  redis.call('HDEL', b.e .. key, 'x')
  redis.call('ZREM', b.x, key)
  return { 0, 1 }
end
if at <= now then
  drop(b, key, old)
  return { 0, 2 }
end
redis.call('HSET', b.e .. key, 'x', at)
redis.call('ZADD', b.x, at, key)
return { 0, 1 }
