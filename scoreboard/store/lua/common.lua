-- Shared helpers: every script is this file followed by its own body.
-- A script's own first lines name its KEYS and ARGV (store/scripts.py names them
-- the same, and a test holds the two to each other).
-- Member encoding: a zero-padded inverted board sequence, ':' and the user id.
-- Equal scores then order (ZREVRANGE) by who reached the score first.
local TIE_BASE = 999999999999999

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- cjson and tostring print numbers with 14 digits; totals need all of theirs.
local function int_str(x)
  return string.format('%d', x)
end

local function member_for(seq, uid)
  return string.format('%015d', TIE_BASE - seq) .. ':' .. uid
end

-- Returns an error status, or nil when the session is live and the player may score.
local function check_player(k_revoked, k_profiles, k_banned, uid)
  if redis.call('EXISTS', k_revoked) == 1 then return 'UNAUTHORIZED' end
  if redis.call('HEXISTS', k_profiles, uid) == 0 then return 'UNAUTHORIZED' end
  if redis.call('SISMEMBER', k_banned, uid) == 1 then return 'FORBIDDEN' end
  return nil
end

-- Idempotency: nil when the key is new; otherwise the reply to give.
local function check_idem(k_idem, body)
  local raw = redis.call('GET', k_idem)
  if not raw then return nil end
  local rec = cjson.decode(raw)
  if rec.h ~= body then return {'IDEMPOTENCY_KEY_REUSED'} end
  if rec.p then return {'IDEMPOTENCY_IN_PROGRESS'} end
  return {'REPLAY', rec.r[1], rec.r[2], rec.r[3], rec.r[4], rec.r[5], rec.r[6]}
end

-- The reply of an applied increment: {status, prev_score, new_score, prev_rank, rank,
-- now, board_seq}; with an Idempotency-Key it is recorded for replays (check_idem).
local function score_reply(k_idem, use_idem, body, ttl_s, r)
  if use_idem then
    local saved = {}
    for i, v in ipairs(r) do saved[i] = int_str(v) end
    redis.call('SET', k_idem, cjson.encode({h = body, r = saved}), 'EX', ttl_s)
  end
  return {'OK', r[1], r[2], r[3], r[4], r[5], r[6]}
end

-- GCRA: at most `limit` admissions per `period` ms, spread or in one burst.
-- Returns 0 when admitted, else the milliseconds to wait.
local function rate_limit(k_rate, limit, period, now)
  local interval = period / limit
  local tat = tonumber(redis.call('GET', k_rate) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - period
  if allow_at > now then return math.ceil(allow_at - now) end
  redis.call('SET', k_rate, string.format('%d', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
  return 0
end

-- Gives back one admission that rate_limit granted (the work it admitted failed).
local function rate_refund(k_rate, limit, period)
  local raw = redis.call('GET', k_rate)
  if raw then
    redis.call('SET', k_rate, string.format('%d', tonumber(raw) - period / limit), 'KEEPTTL')
  end
end

-- The checks every increment passes, in order: session and player, Idempotency-Key,
-- the total's ceiling, the rate. Returns a reply to give at once, or nil, the
-- player's current total and the time.
-- k: {scores, member, profiles, banned, revoked, rate, idem}
local function admit_increment(k, uid, inc, body, use_idem, limit, period, max_total)
  local status = check_player(k.revoked, k.profiles, k.banned, uid)
  if status then return {status} end
  if use_idem then
    local reply = check_idem(k.idem, body)
    if reply then return reply end
  end
  local old = redis.call('HGET', k.member, uid)
  local current = 0
  if old then current = tonumber(redis.call('ZSCORE', k.scores, old) or '0') end
  if current + inc > max_total then return {'SCORE_LIMIT_EXCEEDED'} end
  local now = now_ms()
  local wait = rate_limit(k.rate, limit, period, now)
  if wait > 0 then return {'RATE_LIMITED', wait} end
  return nil, current, now
end

-- Moves the player to `total` reached at board sequence `seq`.
-- Returns previous score, previous rank (-1 if unranked), new rank.
local function apply_total(k_scores, k_member, uid, total, seq)
  local old = redis.call('HGET', k_member, uid)
  local prev_score, prev_rank = 0, -1
  if old then
    local s = redis.call('ZSCORE', k_scores, old)
    if s then
      prev_score = tonumber(s)
      prev_rank = redis.call('ZREVRANK', k_scores, old) + 1
      redis.call('ZREM', k_scores, old)
    end
  end
  local member = member_for(seq, uid)
  redis.call('ZADD', k_scores, total, member)
  redis.call('HSET', k_member, uid, member)
  return prev_score, prev_rank, redis.call('ZREVRANK', k_scores, member) + 1
end

-- Pub/Sub messages: a JSON object whose `kind` is change, refresh or revoke
-- (live/events.py decodes them; it holds the same vocabulary).
local function publish_event(channel, kind, fields)
  fields.kind = kind
  redis.call('PUBLISH', channel, cjson.encode(fields))
end

-- A change of the top 10: bump the board sequence and tell every process.
local function announce(k_boardseq, channel, top_n, uid, prev_rank, rank, score, now)
  if rank > top_n then return 0 end
  local board = redis.call('INCR', k_boardseq)
  publish_event(channel, 'change', {
    seq = board, user_id = uid, previous_rank = prev_rank, rank = rank, score = int_str(score),
    t = int_str(now),
  })
  return board
end
