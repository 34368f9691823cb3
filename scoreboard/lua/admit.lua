-- Direct mode, step 1 of 3: may this increment go to PostgreSQL?
-- Checks the player, the Idempotency-Key (claimed as in progress), the total's
-- ceiling and the rate; reserves a board sequence number for the tie order.
-- KEYS: scores, member, seq, profiles, banned, revoked, rate, idem
-- ARGV: uid, increment, body, limit, period_ms, use_idem, claim_ttl_s, max_total
local uid, inc, body = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local status = check_player(KEYS[6], KEYS[4], KEYS[5], uid)
if status then return {status} end
if ARGV[6] == '1' then
  local reply = check_idem(KEYS[8], body)
  if reply then return reply end
end
local old = redis.call('HGET', KEYS[2], uid)
local current = 0
if old then current = tonumber(redis.call('ZSCORE', KEYS[1], old) or '0') end
if current + inc > tonumber(ARGV[8]) then return {'SCORE_LIMIT_EXCEEDED'} end
local now = now_ms()
local wait = rate_limit(KEYS[7], tonumber(ARGV[4]), tonumber(ARGV[5]), now)
if wait > 0 then return {'RATE_LIMITED', wait} end
if ARGV[6] == '1' then
  redis.call('SET', KEYS[8], cjson.encode({h = body, p = 1}), 'EX', tonumber(ARGV[7]))
end
return {'OK', redis.call('INCR', KEYS[3]), now}
