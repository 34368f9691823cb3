-- Direct mode, when PostgreSQL refused: give back what admit.lua reserved.
-- KEYS: rate, idem
-- ARGV: limit, period_ms, use_idem
local k_rate, k_idem = KEYS[1], KEYS[2]
local limit, period_ms, use_idem = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'

rate_refund(k_rate, limit, period_ms)
if use_idem then
  local rec = redis.call('GET', k_idem)
  if rec and cjson.decode(rec).p then redis.call('DEL', k_idem) end
end
return 1
