-- Shared by every kvs script (layout.rs has the key names). A bucket's keys
-- share one hash tag, so a script that touches one bucket runs in one slot.
--
-- An entry is a hash: t (content type), v (value), n (version), x (expiry,
-- ms since the Unix epoch, absent when it has none). Each bucket also has
-- i (its keys, a sorted set read in byte order), x (its expiring keys,
-- scored by when), n (its version counter) and s (its bytes and expired
-- counts). `now` always comes from the kvs host, so expiry follows the
-- host's clock, as in the in-memory store.

local function bucket(base)
  return { e = base .. 'e:', i = base .. 'i', x = base .. 'x', n = base .. 'n', s = base .. 's' }
end

local function charge(key, f)
  return #key + #f[1] + #f[2]
end

-- Removes the entry `f` ({t, v, n, x} as HMGET returns them) under `key`.
local function drop(b, key, f)
  redis.call('DEL', b.e .. key)
  redis.call('ZREM', b.i, key)
  if f[4] then redis.call('ZREM', b.x, key) end
  redis.call('HINCRBY', b.s, 'bytes', -charge(key, f))
end

-- Removes an entry found past its expiry, without reading its value.
local function reclaim(b, key)
  local e = b.e .. key
  local bytes = #key + redis.call('HSTRLEN', e, 't') + redis.call('HSTRLEN', e, 'v')
  redis.call('DEL', e)
  redis.call('ZREM', b.i, key)
  redis.call('ZREM', b.x, key)
  redis.call('HINCRBY', b.s, 'bytes', -bytes)
  redis.call('HINCRBY', b.s, 'expired', 1)
end

-- The live entry under `key` as {t, v, n, x}, or nil; one past its expiry
-- is removed.
local function load(b, key, now)
  local f = redis.call('HMGET', b.e .. key, 't', 'v', 'n', 'x')
  if not f[3] then return nil end
  if f[4] and tonumber(f[4]) <= now then
    reclaim(b, key)
    return nil
  end
  return f
end

-- Writes `f` ({t, v, n, x or false}) under `key`, over `old` (nil when the
-- key had no entry).
local function put(b, key, f, old)
  local e = b.e .. key
  if old then
    if old[4] and not f[4] then
      redis.call('HDEL', e, 'x')
      redis.call('ZREM', b.x, key)
    end
  else
    redis.call('ZADD', b.i, 0, key)
  end
  if f[4] then
    redis.call('HSET', e, 't', f[1], 'v', f[2], 'n', f[3], 'x', f[4])
    redis.call('ZADD', b.x, f[4], key)
  else
    redis.call('HSET', e, 't', f[1], 'v', f[2], 'n', f[3])
  end
  local delta = charge(key, f)
  if old then delta = delta - charge(key, old) end
  redis.call('HINCRBY', b.s, 'bytes', delta)
end

-- A version no other write of any bucket ever gets: the bucket's counter
-- times the number of buckets, plus the bucket's number.
local function next_version(b, buckets, number)
  return redis.call('INCR', b.n) * buckets + number
end

local function expiry(text)
  if text and text ~= '' then return tonumber(text) end
  return false
end

-- An entry as replies carry it: {t, v, n, x or -1}.
local function reply(f)
  local x = expiry(f[4])
  return { f[1], f[2], tonumber(f[3]), x or -1 }
end

