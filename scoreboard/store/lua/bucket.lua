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
local tier = redis.call('HGET', r.league, 't' .. bucket)
if not tier then return {0, -1} end
local members = redis.call('SMEMBERS', r.prefix .. ':bk:' .. bucket)
local rows = {}
for i = 1, #members do
  local m = redis.call('HGET', k_member, members[i])
  local rank = m and redis.call('ZREVRANK', k_scores, m)
  if rank then rows[#rows + 1] = {rank, members[i], m} end
end
table.sort(rows, function(x, y) return x[1] < y[1] end)
local out = {tonumber(bucket), tonumber(tier)}
for i = 1, #rows do
  local row = rows[i]
  local n = #out
  out[n + 1] = row[2]
  out[n + 2] = redis.call('ZSCORE', k_scores, row[3])
  out[n + 3] = redis.call('HGET', k_profiles, row[2]) or ''
  out[n + 4] = redis.call('HGET', k_meta, row[2]) or ''
end
return out
