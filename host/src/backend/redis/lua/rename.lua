-- KEYS: both entries' and their buckets'. ARGV: now, buckets, '1' to replace, the source's base
-- and key, the target's base, key and bucket number. Reply: {0, version,
-- source entry[, replaced entry]}, {1} (no source) or {2} (target exists).
local now = tonumber(ARGV[1])
local fb, tb = bucket(ARGV[4]), bucket(ARGV[6])
local from, to = ARGV[5], ARGV[7]
local src = load(fb, from, now)
if not src then return { 1 } end
if from == to then
  if ARGV[3] == '1' then return { 0, tonumber(src[3]), reply(src) } end
  return { 2 }
end
local dst = load(tb, to, now)
if dst and ARGV[3] ~= '1' then return { 2 } end
drop(fb, from, src)
local n = next_version(tb, tonumber(ARGV[2]), tonumber(ARGV[8]))
put(tb, to, { src[1], src[2], n, expiry(src[4]) }, dst)
if dst then return { 0, n, reply(src), reply(dst) } end
return { 0, n, reply(src) }
