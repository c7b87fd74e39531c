-- KEYS: the entries' and their buckets'. ARGV: now, buckets, type, then a base, key, bucket
-- number and value per key (no key twice). Reply: per key, its new version
-- and the entry it replaced (0 if none).
local now, buckets, t = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local out = {}
for j = 4, #ARGV, 4 do
  local b, key = bucket(ARGV[j]), ARGV[j + 1]
  local old = load(b, key, now)
  local n = next_version(b, buckets, tonumber(ARGV[j + 2]))
  put(b, key, { t, ARGV[j + 3], n, false }, old)
  out[#out + 1] = n
  out[#out + 1] = old and reply(old) or 0
end
return out
