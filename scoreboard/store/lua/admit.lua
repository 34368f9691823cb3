-- Direct mode, step 1 of 3: may this increment go to PostgreSQL?
-- Checks the player, the Idempotency-Key (claimed as in progress), the total's
-- ceiling and the rate; reserves a board sequence number for the tie order.
-- Replies {'OK', seq, now}, a refusal, or a recorded reply to replay.
-- KEYS: scores, member, seq, profiles, banned, revoked, rate, idem
-- ARGV: uid, increment, body, limit, period_ms, use_idem, claim_ttl_s, max_total
local k_scores, k_member, k_seq, k_profiles = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local k_banned, k_revoked, k_rate, k_idem = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local uid, increment, body, limit = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local period_ms, use_idem, claim_ttl_s, max_total = tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7]), tonumber(ARGV[8])

local k = {scores = k_scores, member = k_member, profiles = k_profiles, banned = k_banned,
           revoked = k_revoked, rate = k_rate, idem = k_idem}
local refusal, _, now = admit_increment(k, uid, increment, body, use_idem, limit, period_ms,
  max_total)
if refusal then return refusal end
if use_idem then
  redis.call('SET', k_idem, cjson.encode({h = body, p = 1}), 'EX', claim_ttl_s)
end
return {'OK', redis.call('INCR', k_seq), now}
