-- One score update, atomically, on every board it feeds (batch mode: Redis is the live
-- truth, the stream carries the event to PostgreSQL).
-- KEYS: seq, events, profiles, banned, revoked, rate, idem, version; per board: scores, member, boardseq
-- ARGV: uid, action, value, body, limit, period_ms, use_idem, idem_ttl_s, max_total, channel, top_n, version; per board: board, season, operator, order
local k_seq, k_events, k_profiles, k_banned = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local k_revoked, k_rate, k_idem, k_version = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local uid, action, value, body = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local limit, period_ms, use_idem, idem_ttl_s = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1', ARGV[8]
local max_total, channel, top_n, version = tonumber(ARGV[9]), ARGV[10], tonumber(ARGV[11]), ARGV[12]
local boards = per_board(KEYS, 8, {'scores', 'member', 'boardseq'}, ARGV, 12, {'board', 'season', 'operator', 'order'})

if stale(k_version, version) then return {'STALE'} end
local refusal, now = admit_update(k_revoked, k_profiles, k_banned, k_rate, k_idem, uid, body,
  use_idem, limit, period_ms, boards, value, max_total)
if refusal then return refusal end
local seq, now_s = redis.call('INCR', k_seq), int_str(now)
local out = {'OK', now, #boards}
for i = 1, #boards do update_board(boards[i], uid, value, seq, now_s, channel, top_n, out) end
redis.call('XADD', k_events, '*', 'u', uid, 'a', action, 'i', int_str(value), 's', seq,
  't', now_s, 'b', boards_field(boards))
return score_reply(k_idem, use_idem, body, idem_ttl_s, out)
