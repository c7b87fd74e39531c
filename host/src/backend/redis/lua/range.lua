-- KEYS: the bucket's. ARGV: base, now, min and max (ZRANGE BYLEX
-- bounds), count. Reply: up to count live keys in byte order; fewer means
-- the bucket has no more in the range. Expired keys met are reclaimed.
local b = bucket(ARGV[1])
local now, max, want = tonumber(ARGV[2]), ARGV[4], tonumber(ARGV[5])
local out, min = {}, ARGV[3]
while #out < want do
  local keys = redis.call('ZRANGE', b.i, min, max, 'BYLEX', 'LIMIT', 0, want - #out)
  if #keys == 0 then break end
  for _, key in ipairs(keys) do
    local at = redis.call('ZSCORE', b.x, key)
    if at and tonumber(at) <= now then
      reclaim(b, key)
    else
      out[#out + 1] = key
    end
  end
  min = '(' .. keys[#keys]
end
return out
