-- Direct mode, step 3 of 3: PostgreSQL committed `total`; show it in Redis.
-- Totals only grow, so when commits of one player arrive out of order the
-- larger total wins and a late smaller one changes nothing.
-- KEYS: scores, member, boardseq, idem
-- ARGV: uid, total, seq, use_idem, idem_ttl_s, channel, top_n, now, body
local uid, total, seq = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[2], uid)
local current = -1
if old then current = tonumber(redis.call('ZSCORE', KEYS[1], old) or '-1') end
local prev_score, prev_rank, rank
if total > current then
  prev_score, prev_rank, rank = apply_total(KEYS[1], KEYS[2], uid, total, seq)
else
  rank = redis.call('ZREVRANK', KEYS[1], old) + 1
  prev_score, prev_rank = current, rank
end
local now = tonumber(ARGV[8])
local board = 0
if total > current then
  board = announce(KEYS[3], ARGV[6], tonumber(ARGV[7]), uid, prev_rank, rank, total, now)
end
local r = {prev_score, total, prev_rank, rank, now, board}
if ARGV[4] == '1' then
  local saved = {}
  for i, v in ipairs(r) do saved[i] = int_str(v) end
  redis.call('SET', KEYS[4], cjson.encode({h = ARGV[9], r = saved}), 'EX', tonumber(ARGV[5]))
end
return {'OK', r[1], r[2], r[3], r[4], r[5], r[6]}
