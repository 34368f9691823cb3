-- Read part of the board in one atomic step: entries with their profiles.
-- KEYS: scores, member, profiles
-- ARGV: 'range', start, stop   (0-based positions, inclusive)
--    or 'around', uid, window  (the player and `window` entries each side)
-- Returns {total, self_rank or -1, self_score or '', first_rank, uid, score, profile, ...}
local total = redis.call('ZCARD', KEYS[1])
local start, stop, self_rank, self_score = 0, -1, -1, ''
if ARGV[1] == 'range' then
  start, stop = tonumber(ARGV[2]), tonumber(ARGV[3])
else
  local member = redis.call('HGET', KEYS[2], ARGV[2])
  local rank = member and redis.call('ZREVRANK', KEYS[1], member)
  if not rank then return {total, -1, '', 0} end
  self_rank = rank + 1
  self_score = redis.call('ZSCORE', KEYS[1], member)
  local w = tonumber(ARGV[3])
  start = math.max(0, rank - w)
  stop = rank + w
end
local out = {total, self_rank, self_score, start + 1}
if start > stop or start >= total then return out end
local rows = redis.call('ZREVRANGE', KEYS[1], start, stop, 'WITHSCORES')
local uids = {}
for i = 1, #rows, 2 do
  uids[#uids + 1] = string.sub(rows[i], string.find(rows[i], ':', 1, true) + 1)
end
local profiles = redis.call('HMGET', KEYS[3], unpack(uids))
for i, uid in ipairs(uids) do
  out[#out + 1] = uid
  out[#out + 1] = rows[2 * i]
  out[#out + 1] = profiles[i] or ''
end
return out
