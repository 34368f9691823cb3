-- One score increment, atomically (batch mode: Redis is the live truth, the
-- stream carries the event to PostgreSQL).
-- KEYS: scores, member, seq, boardseq, events, profiles, banned, revoked, rate, idem
-- ARGV: uid, action, increment, body, limit, period_ms, use_idem, idem_ttl_s,
--       max_total, channel, top_n, write_event
local uid, action, inc, body = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local status = check_player(KEYS[8], KEYS[6], KEYS[7], uid)
if status then return {status} end
if ARGV[7] == '1' then
  local reply = check_idem(KEYS[10], body)
  if reply then return reply end
end
local old = redis.call('HGET', KEYS[2], uid)
local current = 0
if old then current = tonumber(redis.call('ZSCORE', KEYS[1], old) or '0') end
local total = current + inc
if total > tonumber(ARGV[9]) then return {'SCORE_LIMIT_EXCEEDED'} end
local now = now_ms()
local wait = rate_limit(KEYS[9], tonumber(ARGV[5]), tonumber(ARGV[6]), now)
if wait > 0 then return {'RATE_LIMITED', wait} end
local seq = redis.call('INCR', KEYS[3])
local prev_score, prev_rank, rank = apply_total(KEYS[1], KEYS[2], uid, total, seq)
if ARGV[12] == '1' then
  redis.call('XADD', KEYS[5], '*', 'u', uid, 'a', action, 'i', ARGV[3], 's', seq, 't', int_str(now))
end
local board = announce(KEYS[4], ARGV[10], tonumber(ARGV[11]), uid, prev_rank, rank, total, now)
local r = {prev_score, total, prev_rank, rank, now, board}
if ARGV[7] == '1' then
  local saved = {}
  for i, v in ipairs(r) do saved[i] = int_str(v) end
  redis.call('SET', KEYS[10], cjson.encode({h = body, r = saved}), 'EX', tonumber(ARGV[8]))
end
return {'OK', r[1], r[2], r[3], r[4], r[5], r[6]}
