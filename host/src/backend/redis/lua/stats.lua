-- KEYS: the bucket's. ARGV: base, now. Reply: {keys, expiring,
-- bytes, expired}, leaving out keys past their expiry not yet reclaimed.
local b = bucket(ARGV[1])
local due = redis.call('ZCOUNT', b.x, '-inf', ARGV[2])
return {
  redis.call('ZCARD', b.i) - due,
  redis.call('ZCARD', b.x) - due,
  tonumber(redis.call('HGET', b.s, 'bytes') or '0'),
  tonumber(redis.call('HGET', b.s, 'expired') or '0'),
}
