-- Puts a key back as it was before a failed guest call wrote it, unless
-- another write changed it since. KEYS: the entry's and its bucket's. ARGV: base, now, key,
-- the version the call left ('' if it left no entry), then the entry to put
-- back (type, value, version, expiry or ''), or nothing to remove the key.
-- Reply: 1 if put back, 0 if the key had changed.
local b = bucket(ARGV[1])
local key = ARGV[3]
local old = load(b, key, tonumber(ARGV[2]))
if ARGV[4] == '' then
  if old then return 0 end
elseif not old or tonumber(old[3]) ~= tonumber(ARGV[4]) then
  return 0
end
if #ARGV >= 8 then
  put(b, key, { ARGV[5], ARGV[6], tonumber(ARGV[7]), expiry(ARGV[8]) }, old)
elseif old then
  drop(b, key, old)
end
return 1
