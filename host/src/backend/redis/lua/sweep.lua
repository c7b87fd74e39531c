-- KEYS: the bucket's. ARGV: base, now, most to reclaim.
-- Reply: how many expired entries it reclaimed.
local b = bucket(ARGV[1])
local due = redis.call('ZRANGE', b.x, '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, key in ipairs(due) do reclaim(b, key) end
return #due
