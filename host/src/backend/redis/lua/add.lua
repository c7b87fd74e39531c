-- KEYS: the entry's and its bucket's. ARGV: base, now, key, type for a new
-- entry, delta (decimal), buckets, bucket number, '1' to have the replaced
-- entry back. Reply: {0, version, sum (decimal)[, old]}, {4} (not an
-- integer) or {5} (overflow).
--
-- Lua's numbers are doubles, which cannot hold every 64-bit integer, so the
-- sum is left to HINCRBY: Redis's own 64-bit arithmetic, reading the value
-- by Redis's own rules for integers (no sign but '-', no spaces, no leading
-- zeros), and refusing an overflow.
local b = bucket(ARGV[1])
local key = ARGV[3]
local e = b.e .. key
local old = load(b, key, tonumber(ARGV[2]))
if not old then
  local n = next_version(b, tonumber(ARGV[6]), tonumber(ARGV[7]))
  put(b, key, { ARGV[4], ARGV[5], n, false }, nil)
  return { 0, n, ARGV[5] }
end
local added = redis.pcall('HINCRBY', e, 'v', ARGV[5])
if type(added) == 'table' and added.err then
  if string.find(added.err, 'overflow', 1, true) then return { 5 } end
  return { 4 }
end
local sum = redis.call('HGET', e, 'v')
local n = next_version(b, tonumber(ARGV[6]), tonumber(ARGV[7]))
redis.call('HSET', e, 'n', n)
redis.call('HINCRBY', b.s, 'bytes', #sum - #old[2])
if ARGV[8] == '1' then return { 0, n, sum, reply(old) } end
return { 0, n, sum }
