-- One score increment, atomically (batch mode: Redis is the live truth, the
-- stream carries the event to PostgreSQL).
-- KEYS: scores, member, seq, boardseq, events, profiles, banned, revoked, rate, idem
-- ARGV: uid, action, increment, body, limit, period_ms, use_idem, idem_ttl_s, max_total, channel, top_n
local k_scores, k_member, k_seq, k_boardseq, k_events = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local k_profiles, k_banned, k_revoked, k_rate, k_idem = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local uid, action, increment, body = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit, period_ms, use_idem, idem_ttl_s = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1', tonumber(ARGV[8])
local max_total, channel, top_n = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11])

local k = {scores = k_scores, member = k_member, profiles = k_profiles, banned = k_banned,
           revoked = k_revoked, rate = k_rate, idem = k_idem}
local inc = tonumber(increment)
local refusal, current, now = admit_increment(k, uid, inc, body, use_idem, limit, period_ms,
  max_total)
if refusal then return refusal end
local total = current + inc
local seq = redis.call('INCR', k_seq)
local prev_score, prev_rank, rank = apply_total(k_scores, k_member, uid, total, seq)
redis.call('XADD', k_events, '*', 'u', uid, 'a', action, 'i', increment, 's', seq, 't', int_str(now))
local board = announce(k_boardseq, channel, top_n, uid, prev_rank, rank, total, now)
return score_reply(k_idem, use_idem, body, idem_ttl_s, {prev_score, total, prev_rank, rank, now, board})
