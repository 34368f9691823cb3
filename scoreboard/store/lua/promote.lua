-- A league season's promotion and relegation, some buckets at a time (board/league.py
-- walks every bucket of an ended season; its keys no longer change). Each player who
-- moves gets their new tier in the board's tiers hash (update.lua reads it once
-- `tiers:through` reaches the season; before that it works the same rule out itself).
-- KEYS: tiers
-- ARGV: board, season, rules, first, last
-- Replies {buckets in the season, then per player who moves: user id, new tier}.
local k_tiers = KEYS[1]
local board, season, rules, first, last = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local r = read_rules({board = board, season = season, rules = rules})
local s = season_prefix(board, season)
local out = {tonumber(redis.call('HGET', s .. ':league', 'n') or '0')}
for bucket = tonumber(first), math.min(tonumber(last), out[1]) do
  local tier, ranked = bucket_places(s, bucket)
  for i = 1, #ranked do
    local moved = next_tier(tier, i, #ranked, r)
    if moved ~= tier then
      redis.call('HSET', k_tiers, ranked[i][3], moved)
      out[#out + 1], out[#out + 2] = ranked[i][3], moved
    end
  end
end
return out
