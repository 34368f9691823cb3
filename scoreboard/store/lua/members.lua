-- The listed players' places on a board in one atomic step (the friends view).
-- Returns {total, then for each ranked player: uid, rank, score, profile, metadata ('' for
-- none)}; unranked (or hidden) players are left out.
-- KEYS: scores, member, profiles, meta
-- ARGV: uids
local k_scores, k_member, k_profiles, k_meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local uids = ARGV[1]

local out = {redis.call('ZCARD', k_scores)}
for uid in string.gmatch(uids, '[^,]+') do
  local member = redis.call('HGET', k_member, uid)
  local rank = member and redis.call('ZREVRANK', k_scores, member)
  if rank then
    out[#out + 1] = uid
    out[#out + 1] = rank + 1
    out[#out + 1] = redis.call('ZSCORE', k_scores, member)
    out[#out + 1] = redis.call('HGET', k_profiles, uid) or ''
    out[#out + 1] = redis.call('HGET', k_meta, uid) or ''
  end
end
return out
