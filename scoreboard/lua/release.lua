-- Direct mode, when PostgreSQL refused: give back what admit.lua reserved.
-- KEYS: rate, idem    ARGV: limit, period_ms, use_idem
local raw = redis.call('GET', KEYS[1])
if raw then
  local interval = tonumber(ARGV[2]) / tonumber(ARGV[1])
  redis.call('SET', KEYS[1], string.format('%d', tonumber(raw) - interval), 'KEEPTTL')
end
if ARGV[3] == '1' then
  local rec = redis.call('GET', KEYS[2])
  if rec and cjson.decode(rec).p then redis.call('DEL', KEYS[2]) end
end
return 1
