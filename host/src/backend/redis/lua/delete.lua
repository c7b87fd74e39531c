-- KEYS: the entry's and its bucket's. ARGV: base, now, key, if-version or ''.
-- Reply: {0, removed entry}, {1} (not found) or {3, current version}.
local b = bucket(ARGV[1])
local key = ARGV[3]
local old = load(b, key, tonumber(ARGV[2]))
if not old then return { 1 } end
if ARGV[4] ~= '' and tonumber(old[3]) ~= tonumber(ARGV[4]) then return { 3, tonumber(old[3]) } end
drop(b, key, old)
return { 0, reply(old) }
