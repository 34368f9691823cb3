-- Direct mode, step 1 of 3: may this update go to PostgreSQL?
-- Checks the player, the Idempotency-Key (claimed as in progress), the competitions'
-- gates, the totals' ceiling and the rate; reserves a tie sequence number, and on each
-- board that takes the update its seat, attempt and bucket (common.lua, enter).
-- Replies {'OK', seq, now, then per board: 0 or why it did not take it (GATES), the
-- attempts left (-1: not limited), the bucket (0: none)}, a refusal, a recorded reply
-- to replay, or STALE.
-- KEYS: seq, profiles, banned, revoked, rate, idem, version; per board: scores, member
-- ARGV: uid, writer, value, body, limit, period_ms, use_idem, claim_ttl_s, max_total, version; per board: board, season, operator, order, rules
local k_seq, k_profiles, k_banned, k_revoked = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local k_rate, k_idem, k_version = KEYS[5], KEYS[6], KEYS[7]
local uid, writer, value, body = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local limit, period_ms, use_idem = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local claim_ttl_s, max_total, version = tonumber(ARGV[8]), tonumber(ARGV[9]), ARGV[10]
local boards = per_board(KEYS, 7, {'scores', 'member'}, ARGV, 10, {'board', 'season', 'operator', 'order', 'rules'})

if stale(k_version, version) then return {'STALE'} end
local refusal, now = admit_update(k_revoked, k_profiles, k_banned, k_rate, k_idem, uid, body,
  use_idem, limit, period_ms, boards, value, max_total, writer)
if refusal then return refusal end
if use_idem then
  redis.call('SET', k_idem, cjson.encode({h = body, p = 1}), 'EX', claim_ttl_s)
end
local out = {'OK', redis.call('INCR', k_seq), now}
for i = 1, #boards do
  local b = boards[i]
  local n = #out
  if b.gate then
    out[n + 1], out[n + 2], out[n + 3] = GATES[b.gate], -1, 0
  else
    out[n + 1], out[n + 2] = 0, enter(b, uid)
    out[n + 3] = tonumber(b.bucket or 0)
  end
end
return out
