-- Read part of the board in one atomic step: entries with their profiles.
-- mode 'range': a, b are the first and last 0-based positions (inclusive);
-- mode 'around': a is a user id, b the number of entries each side of them.
-- with_meta '1': each entry's metadata too ('' for none).
-- Returns {total, self_rank or -1, self_score or '', first_rank, uid, score, profile, metadata, ...}
-- KEYS: scores, member, profiles, meta
-- ARGV: mode, a, b, with_meta
local k_scores, k_member, k_profiles, k_meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local mode, a, b, with_meta = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'


local total = redis.call('ZCARD', k_scores)
local start, stop, self_rank, self_score = 0, -1, -1, ''
if mode == 'range' then
  start, stop = tonumber(a), tonumber(b)
else
  local member = redis.call('HGET', k_member, a)
  local rank = member and redis.call('ZREVRANK', k_scores, member)
  if not rank then return {total, -1, '', 0} end
  self_rank = rank + 1
  self_score = redis.call('ZSCORE', k_scores, member)
  local w = tonumber(b)
  start = math.max(0, rank - w)
  stop = rank + w
end
local out = {total, self_rank, self_score, start + 1}
if start > stop or start >= total then return out end
local rows = redis.call('ZREVRANGE', k_scores, start, stop, 'WITHSCORES')
local uids = {}
for i = 1, #rows, 2 do
  uids[#uids + 1] = string.sub(rows[i], string.find(rows[i], ':', 1, true) + 1)
end
local profiles = redis.call('HMGET', k_profiles, unpack(uids))
local metas = with_meta and redis.call('HMGET', k_meta, unpack(uids)) or {}
for i, uid in ipairs(uids) do
  out[#out + 1] = uid
  out[#out + 1] = rows[2 * i]
  out[#out + 1] = profiles[i] or ''
  out[#out + 1] = metas[i] or ''
end
return out
