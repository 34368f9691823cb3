-- A league bucket's standings, named by its number or by a player in it (GET
-- /api/v1/boards/{id}/buckets/{bucket}, and a league board's me and users/{uid}/rank).
-- KEYS: scores, member, profiles, meta
-- ARGV: board, season, rules, mode, a
-- mode 'bucket': `a` is the bucket; 'player': `a` is a user id (their bucket this season).
-- Replies {0, tier} for a player not placed this season (the tier they would play in),
-- {0, -1} for no such bucket, else {bucket, tier, then per player by rank: user id,
-- stored score, profile JSON or '', metadata JSON or ''}.
local k_scores, k_member, k_profiles, k_meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local board, season, rules, mode, a = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local b = {board = board, season = season, rules = rules}
local r = read_rules(b)
if not r or not r.tiers then return {0, -1} end
local bucket = a
if mode == 'player' then
  bucket = redis.call('HGET', r.placed, a)
  if not bucket then return {0, tier_for(b.board, tonumber(b.season), a, r)} end
end
if not redis.call('HGET', r.league, 't' .. bucket) then return {0, -1} end
local tier, ranked = bucket_places(r.prefix, bucket)
local out = {tonumber(bucket), tier}
for i = 1, #ranked do
  local uid, n = ranked[i][3], #out
  out[n + 1], out[n + 2] = uid, ranked[i][1]
  out[n + 3] = redis.call('HGET', k_profiles, uid) or ''
  out[n + 4] = redis.call('HGET', k_meta, uid) or ''
end
return out
