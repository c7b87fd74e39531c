-- KEYS: the entry's and its bucket's. ARGV: base, now, key, type, value, if-version or '',
-- 'keep' | 'clear' | 'at', the instant for 'at', buckets, bucket number,
-- '1' to have the replaced entry back. Reply: {0, version[, old]}, {1}
-- (not found) or {3, current version}.
local b = bucket(ARGV[1])
local key = ARGV[3]
local old = load(b, key, tonumber(ARGV[2]))
if not old then return { 1 } end
if ARGV[6] ~= '' and tonumber(old[3]) ~= tonumber(ARGV[6]) then return { 3, tonumber(old[3]) } end
local x = false
if ARGV[7] == 'keep' then x = expiry(old[4]) elseif ARGV[7] == 'at' then x = tonumber(ARGV[8]) end
local n = next_version(b, tonumber(ARGV[9]), tonumber(ARGV[10]))
put(b, key, { ARGV[4], ARGV[5], n, x }, old)
if ARGV[11] == '1' then return { 0, n, reply(old) } end
return { 0, n }
