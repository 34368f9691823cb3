-- One score increment, atomically (batch mode: Redis is the live truth, the
-- stream carries the event to PostgreSQL).
-- KEYS: scores, member, seq, boardseq, events, profiles, banned, revoked, rate, idem
-- ARGV: uid, action, increment, body, limit, period_ms, use_idem, idem_ttl_s,
--       max_total, channel, top_n
local uid, action, inc, body = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local k = {scores = KEYS[1], member = KEYS[2], profiles = KEYS[6], banned = KEYS[7],
           revoked = KEYS[8], rate = KEYS[9], idem = KEYS[10]}
local reply, current, now = admit_increment(k, uid, inc, body, ARGV[7] == '1',
  tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[9]))
if reply then return reply end
local total = current + inc
local seq = redis.call('INCR', KEYS[3])
local prev_score, prev_rank, rank = apply_total(KEYS[1], KEYS[2], uid, total, seq)
redis.call('XADD', KEYS[5], '*', 'u', uid, 'a', action, 'i', ARGV[3], 's', seq, 't', int_str(now))
local board = announce(KEYS[4], ARGV[10], tonumber(ARGV[11]), uid, prev_rank, rank, total, now)
local r = {prev_score, total, prev_rank, rank, now, board}
if ARGV[7] == '1' then
  local saved = {}
  for i, v in ipairs(r) do saved[i] = int_str(v) end
  redis.call('SET', KEYS[10], cjson.encode({h = body, r = saved}), 'EX', tonumber(ARGV[8]))
end
return {'OK', r[1], r[2], r[3], r[4], r[5], r[6]}
