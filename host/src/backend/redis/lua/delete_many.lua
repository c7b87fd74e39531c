-- KEYS: the entries' and their buckets'. ARGV: now, then a base and a key per key.
-- Reply: the removed keys, each followed by its entry.
local now = tonumber(ARGV[1])
local out = {}
for j = 2, #ARGV, 2 do
  local b, key = bucket(ARGV[j]), ARGV[j + 1]
  local old = load(b, key, now)
  if old then
    drop(b, key, old)
    out[#out + 1] = key
    out[#out + 1] = reply(old)
  end
end
return out
