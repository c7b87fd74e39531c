-- KEYS: the entry's and its bucket's. ARGV: base, now, key, type, value, expiry or '',
-- buckets, bucket number. Reply: {0, version} or {2} (exists).
local b = bucket(ARGV[1])
local key = ARGV[3]
if load(b, key, tonumber(ARGV[2])) then return { 2 } end
local n = next_version(b, tonumber(ARGV[7]), tonumber(ARGV[8]))
put(b, key, { ARGV[4], ARGV[5], n, expiry(ARGV[6]) }, nil)
return { 0, n }
