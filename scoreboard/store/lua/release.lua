-- Direct mode, when PostgreSQL refused: give back what admit.lua reserved (the rate,
-- the Idempotency-Key's claim, an attempt on each board that counts them; a seat or a
-- bucket taken stays the player's).
-- KEYS: rate, idem; per board: attempts
-- ARGV: limit, period_ms, use_idem, uid
local k_rate, k_idem = KEYS[1], KEYS[2]
local limit, period_ms, use_idem = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local uid = ARGV[4]
local boards = per_board(KEYS, 2, {'attempts'}, ARGV, 4, {})

for i = 1, #boards do
  local k = boards[i].attempts
  if redis.call('HINCRBY', k, uid, -1) <= 0 then redis.call('HDEL', k, uid) end
end
rate_refund(k_rate, limit, period_ms)
if use_idem then
  local rec = redis.call('GET', k_idem)
  if rec and cjson.decode(rec).p then redis.call('DEL', k_idem) end
end
return 1
