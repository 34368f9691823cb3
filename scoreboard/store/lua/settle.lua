-- Direct mode, step 3 of 3: PostgreSQL committed `total`; show it in Redis.
-- Totals only grow, so when commits of one player arrive out of order the
-- larger total wins and a late smaller one changes nothing.
-- KEYS: scores, member, boardseq, idem
-- ARGV: uid, total, seq, use_idem, idem_ttl_s, channel, top_n, now, body
local k_scores, k_member, k_boardseq, k_idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local uid, total, seq, use_idem = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local idem_ttl_s, channel, top_n = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local now, body = tonumber(ARGV[8]), ARGV[9]

local old = redis.call('HGET', k_member, uid)
local current = -1
if old then current = tonumber(redis.call('ZSCORE', k_scores, old) or '-1') end
local prev_score, prev_rank, rank
local board = 0
if total > current then
  prev_score, prev_rank, rank = apply_total(k_scores, k_member, uid, total, seq)
  board = announce(k_boardseq, channel, top_n, uid, prev_rank, rank, total, now)
else
  rank = redis.call('ZREVRANK', k_scores, old) + 1
  prev_score, prev_rank = current, rank
end
return score_reply(k_idem, use_idem, body, idem_ttl_s, {prev_score, total, prev_rank, rank, now, board})
