-- Direct mode, step 1 of 3: may this increment go to PostgreSQL?
-- Checks the player, the Idempotency-Key (claimed as in progress), the total's
-- ceiling and the rate; reserves a board sequence number for the tie order.
-- KEYS: scores, member, seq, profiles, banned, revoked, rate, idem
-- ARGV: uid, increment, body, limit, period_ms, use_idem, claim_ttl_s, max_total
local uid, inc, body = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local k = {scores = KEYS[1], member = KEYS[2], profiles = KEYS[4], banned = KEYS[5],
           revoked = KEYS[6], rate = KEYS[7], idem = KEYS[8]}
local reply, _, now = admit_increment(k, uid, inc, body, ARGV[6] == '1',
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[8]))
if reply then return reply end
if ARGV[6] == '1' then
  redis.call('SET', KEYS[8], cjson.encode({h = body, p = 1}), 'EX', tonumber(ARGV[7]))
end
return {'OK', redis.call('INCR', KEYS[3]), now}
