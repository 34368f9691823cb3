-- Anomaly detection, one step: read the next events of the detectors' own consumer
-- group, fold each into its player's sketches, acknowledge them, and queue the flags
-- they raise. Atomic, so each event is folded exactly once, whatever process runs the
-- step or dies after it; the update path never waits for it.
-- Sketches, in one small hash per player (it expires after `idle_s` without an event):
--   per player and action: the intervals' exponentially weighted mean and variance
--   (cadence) and the share of submissions at the action's maximum (at_cap);
--   per incr board: the player's gain, decayed with time constant `tau_s` (rate),
--   kept in a sorted set by log(gain) + t / tau_s, which orders players as their gains
--   decayed to any common instant;
--   per best/latest board and season: the player's best and the board's top, which a
--   score far beyond it does not move (jump).
-- A flag is queued once per player, detector and board while it stays open (a marker
-- key; resolving the flag deletes it).
-- KEYS: events, queue, judge
-- ARGV: group, consumer, batch, caps, idle_s, alpha, cadence_min, cadence_cv, cap_min, cap_share, tau_s, rate_z, rate_min, rate_every_ms, jump_factor, jump_min
-- Returns {events read, flags queued}.
local k_events, k_queue, k_judge = KEYS[1], KEYS[2], KEYS[3]
local group, consumer, batch, caps = ARGV[1], ARGV[2], ARGV[3], cjson.decode(ARGV[4])
local idle_s, alpha, cadence_min, cadence_cv = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local cap_min, cap_share, tau_s, rate_z = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local rate_min, rate_every_ms, jump_factor, jump_min = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])

local SAMPLE = 201  -- players sampled for a board's median and MAD
local EPS = 0.5  -- a decayed gain below this is no longer active

local got = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', batch,
                       'STREAMS', k_events, '>')
local entries = got and got[1][2] or {}
local queued = 0

local function raise(detector, board, uid, value, threshold, evidence, at_ms)
  local marker = '{lb}:flag:open:' .. detector .. ':' .. board .. ':' .. uid
  if not redis.call('SET', marker, '1', 'NX') then return end
  redis.call('RPUSH', k_queue, cjson.encode({
    detector = detector, board = board, user_id = uid, value = value,
    threshold = threshold, evidence = evidence, at = at_ms,
  }))
  queued = queued + 1
end

-- numbers as stored: six digits for statistics, milliseconds for times (Redis would
-- write every double with seventeen)
local function f6(x) return string.format('%.6g', x) end
local function ft(x) return string.format('%.3f', x) end

-- each key's expiry is pushed back once per step, and each board's top is read once
-- and written back once
local kept, tops = {}, {}
local function keep(key)
  if not kept[key] then
    kept[key] = true
    redis.call('EXPIRE', key, idle_s)
  end
end

local function num(x, default)
  if x then return tonumber(x) end
  return default
end

-- cadence and at_cap: per player and action, judged on the first board fed
local function player_action(uid, action, value, t, board, id)
  local key, p = '{lb}:det:u:' .. uid, 'a:' .. action .. ':'
  local s = redis.call('HMGET', key, p .. 'n', p .. 'lt', p .. 'm', p .. 'v', p .. 'c', p .. 'k')
  local n, lt, m, v = num(s[1], 0), num(s[2], nil), num(s[3], 0), num(s[4], 0)
  local c, k = num(s[5], 0), num(s[6], 0)
  if lt then
    local dt = t - lt
    if k == 0 then m, v = dt, 0 else
      local d = dt - m  -- exponentially weighted mean and variance (West)
      m = m + alpha * d
      v = (1 - alpha) * (v + alpha * d * d)
    end
    k = k + 1
  end
  local at_cap = (caps[action] and value >= caps[action]) and 1 or 0
  c = c + ((n == 0) and at_cap or alpha * (at_cap - c))
  n = n + 1
  redis.call('HSET', key, p .. 'n', n, p .. 'lt', ft(t), p .. 'm', f6(m), p .. 'v', f6(v),
             p .. 'c', f6(c), p .. 'k', k)
  keep(key)
  if k >= cadence_min and m > 0 then
    local cv = math.sqrt(v) / m
    if cv < cadence_cv then
      raise('cadence', board, uid, cv, cadence_cv, {
        intervals = k, mean_interval_s = m, cv = cv, action = action, last_event = id,
      }, math.floor(t * 1000))
    end
  end
  if n >= cap_min and c >= cap_share then
    raise('at_cap', board, uid, c, cap_share, {
      submissions = n, share_at_cap = c, cap = caps[action], action = action,
      last_event = id,
    }, math.floor(t * 1000))
  end
end

local touched = {}

-- rate: the player's decayed gain on an incr board
local function gain(board, uid, value, t)
  local key, p = '{lb}:det:u:' .. uid, 'g:' .. board .. ':'
  local s = redis.call('HMGET', key, p .. 'g', p .. 't')
  local g, gt = num(s[1], 0), num(s[2], t)
  g = g * math.exp(-(t - gt) / tau_s) + value
  redis.call('HSET', key, p .. 'g', f6(g), p .. 't', ft(t))
  keep(key)
  redis.call('ZADD', '{lb}:det:r:' .. board, math.log(g) + t / tau_s, uid)
  if not touched[board] then
    touched[board] = true
    redis.call('SADD', k_judge, board)
    redis.call('HSETNX', '{lb}:det:r:' .. board .. ':since', 'since', ft(t))
  end
end

-- jump: a best/latest score far beyond the player's best and the board's top
local function jump(board, season, order, uid, value, t, id)
  local sign = order == 'asc' and -1 or 1
  local key = '{lb}:det:j:' .. board .. ':' .. season
  local mine, p = '{lb}:det:u:' .. uid, 'j:' .. board .. ':' .. season .. ':'
  local b = tops[key]
  if b == nil then
    local raw = redis.call('HMGET', key, 'top', 'n')
    b = {top = num(raw[1], nil), n = num(raw[2], 0)}
    tops[key] = b
  end
  local top, seen = b.top, b.n
  local s = redis.call('HMGET', mine, p .. 'best', p .. 'n')
  local best, n = num(s[1], nil), num(s[2], 0)
  local function beyond(ref)  -- `value` is `jump_factor` times better than `ref`
    if sign > 0 then return value >= jump_factor * ref end
    return value * jump_factor <= ref
  end
  local far = top and seen >= jump_min and beyond(top)
  if far and (best == nil or beyond(best)) then
    raise('jump', board, uid, value, jump_factor, {
      score = value, own_best = best, own_submissions = n, board_top = top,
      board_submissions = seen, season = tonumber(season), last_event = id,
    }, math.floor(t * 1000))
  end
  if best == nil or value * sign > best * sign then best = value end
  -- the board's top moves with believable scores only: one impossible score must not
  -- hide the next
  if not far and (top == nil or value * sign > top * sign) then top = value end
  redis.call('HSET', mine, p .. 'best', best, p .. 'n', n + 1)
  keep(mine)
  b.top, b.n = top, seen + 1  -- written back once per step
end

local ids = {}
for i = 1, #entries do
  local id, raw = entries[i][1], entries[i][2]
  ids[i] = id
  local f = {}
  for j = 1, #raw, 2 do f[raw[j]] = raw[j + 1] end
  local uid, action, value, t = f.u, f.a, tonumber(f.i), tonumber(f.t) / 1000
  if uid and action and value and t then
    local boards = f.b
    if not boards or boards == '' then boards = 'global/1/incr/desc' end
    local first = nil
    for part in string.gmatch(boards, '[^,]+') do
      local board, season, op, order = string.match(part, '^([^/]+)/([^/]+)/([^/]+)/([^/]+)$')
      if board then
        if first == nil or board == 'global' then first = board end
        if op == 'incr' then gain(board, uid, value, t)
        else jump(board, season, order, uid, value, t, id) end
      end
    end
    if first then player_action(uid, action, value, t, first, id) end
  end
end
if #ids > 0 then redis.call('XACK', k_events, group, unpack(ids)) end
for key, b in pairs(tops) do
  redis.call('HSET', key, 'top', b.top, 'n', b.n)
  redis.call('EXPIRE', key, idle_s)
end

-- rate: each board with new gains (`judge`), judged at most every `rate_every_ms`
local t_now = redis.call('TIME')
local now_ms = t_now[1] * 1000 + math.floor(t_now[2] / 1000)
local now_s = now_ms / 1000
for _, board in ipairs(redis.call('SMEMBERS', k_judge)) do
  local zkey = '{lb}:det:r:' .. board
  if redis.call('SET', zkey .. ':judged', '1', 'PX', rate_every_ms, 'NX') then
    redis.call('SREM', k_judge, board)
    local base = now_s / tau_s
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', '(' .. (base + math.log(EPS)))
    local population = redis.call('ZCARD', zkey)
    -- a board is judged once it has had a window of play: before, players who came
    -- first have had longer to gain than the rest
    local since = tonumber(redis.call('HGET', zkey .. ':since', 'since') or now_s)
    if population >= rate_min and now_s - since >= tau_s then
      local sample = redis.call('ZRANDMEMBER', zkey, SAMPLE, 'WITHSCORES')
      local xs = {}
      for i = 2, #sample, 2 do xs[#xs + 1] = math.exp(tonumber(sample[i]) - base) end
      table.sort(xs)
      local med = xs[math.floor((#xs + 1) / 2)]
      local dev = {}
      for i = 1, #xs do dev[i] = math.abs(xs[i] - med) end
      table.sort(dev)
      local mad = dev[math.floor((#dev + 1) / 2)] * 1.4826
      if mad < med * 0.05 then mad = med * 0.05 end  -- a board of equals: a floor
      if mad > 0 then
        local top = redis.call('ZREVRANGE', zkey, 0, 9, 'WITHSCORES')
        for i = 1, #top, 2 do
          local g = math.exp(tonumber(top[i + 1]) - base)
          local z = (g - med) / mad
          if z >= rate_z then
            raise('rate', board, top[i], z, rate_z, {
              gain = g, window_s = tau_s, median = med, mad = mad,
              population = population, sampled = #xs,
            }, now_ms)
          end
        end
      end
    end
  end
end
return {#entries, queued}
