-- Anomaly detection, one step: read the next events of the detectors' own consumer
-- group, fold each into its player's sketches, acknowledge them, and queue the flags
-- they raise. Atomic, so each event is folded exactly once, whatever process runs the
-- step or dies after it; the update path never waits for it.
-- Sketches, in one small hash per player (it expires after `idle_s` with fewer than
-- eight events),
-- one field per action and per best/latest board, each a few binary doubles:
--   per action: the intervals' exponentially weighted mean and variance (cadence) and
--   the share of submissions at the action's maximum (at_cap);
--   per incr board: the player's gain, decayed with time constant `tau_s` (rate), held
--   by the board's sorted set alone (forward decay, below);
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

-- a sketch as stored: binary doubles (struct), read and written without parsing text
local SKETCH = '<dddddd'  -- submissions, last time, gaps' mean and variance, share at cap, gaps
local BEST = '<dd'  -- best score, submissions
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

-- cadence and at_cap: per player and action, judged on the first board fed. `packed`:
-- the sketch as stored ("n last mean var share intervals"), or nil; returns it anew.
local function player_action(uid, action, value, t, board, id, packed)
  local n, lt, m, v, c, k = 0, nil, 0, 0, 0, 0
  if packed then n, lt, m, v, c, k = struct.unpack(SKETCH, packed) end
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
  return struct.pack(SKETCH, n, t, m, v, c, k)
end

-- rate: the player's decayed gain on an incr board, by forward decay: the board's
-- sorted set holds, per player, the sum of their values each weighted by
-- exp((t - mark) / tau_s), `mark` being the board's landmark instant. One ZINCRBY per
-- event, no read; the gain decayed to an instant T is the score times
-- exp(-(T - mark) / tau_s), and the order of the scores is the order of the gains at
-- any instant. The judgment moves the landmark before the weights grow too large.
local marks = {}
local function gain(board, uid, value, t)
  local zkey = '{lb}:det:r:' .. board
  local mark = marks[board]
  if mark == nil then
    redis.call('HSETNX', zkey .. ':since', 'since', ft(t))
    redis.call('HSETNX', zkey .. ':since', 'mark', ft(t))
    mark = tonumber(redis.call('HGET', zkey .. ':since', 'mark'))
    marks[board] = mark
    redis.call('SADD', k_judge, board)
  end
  redis.call('ZINCRBY', zkey, value * math.exp((t - mark) / tau_s), uid)
end

-- jump: a best/latest score far beyond the player's best and the board's top.
-- `packed`: the player's "best submissions" on that board and season, or nil; returns
-- it anew.
local function jump(board, season, order, uid, value, t, id, packed)
  local sign = order == 'asc' and -1 or 1
  local key = '{lb}:det:j:' .. board .. ':' .. season
  local b = tops[key]
  if b == nil then
    local raw = redis.call('HMGET', key, 'top', 'n')
    b = {top = num(raw[1], nil), n = num(raw[2], 0)}
    tops[key] = b
  end
  local top, seen = b.top, b.n
  local best, n = nil, 0
  if packed then best, n = struct.unpack(BEST, packed) end
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
  b.top, b.n = top, seen + 1  -- written back once per step
  return struct.pack(BEST, best, n + 1)
end

local ids = {}
for i = 1, #entries do
  local id, raw = entries[i][1], entries[i][2]
  ids[i] = id
  local uid, action, value, t, boards
  if raw[1] == 'u' and raw[3] == 'a' and raw[5] == 'i' and raw[9] == 't' then
    -- update.lua's order: u, a, i, s, t, b, then w and m when there are
    uid, action, value, t = raw[2], raw[4], tonumber(raw[6]), tonumber(raw[10])
    if raw[11] == 'b' then boards = raw[12] end
  else
    local f = {}
    for j = 1, #raw, 2 do f[raw[j]] = raw[j + 1] end
    uid, action, value, t, boards = f.u, f.a, tonumber(f.i), tonumber(f.t), f.b
  end
  if uid and action and value and t then
    t = t / 1000
    if not boards or boards == '' then boards = 'global/1/incr/desc' end
    -- the player's sketches this event moves, read in one HMGET and written in one HSET
    local key, names, kept_boards, first = '{lb}:det:u:' .. uid, {'a:' .. action}, {}, nil
    for part in string.gmatch(boards, '[^,]+') do
      local board, season, op, order = string.match(part, '^([^/]+)/([^/]+)/([^/]+)/([^/]+)$')
      if board then
        if first == nil or board == 'global' then first = board end
        if op == 'incr' then gain(board, uid, value, t)
        else
          kept_boards[#kept_boards + 1] = {board, season, order}
          names[#names + 1] = 'j:' .. board .. ':' .. season
        end
      end
    end
    if first then
      local got = redis.call('HMGET', key, unpack(names))
      local out = {names[1], player_action(uid, action, value, t, first, id, got[1] or nil)}
      for j = 1, #kept_boards do
        local kb = kept_boards[j]
        out[#out + 1] = names[j + 1]
        out[#out + 1] = jump(kb[1], kb[2], kb[3], uid, value, t, id, got[j + 1] or nil)
      end
      redis.call('HSET', key, unpack(out))
      -- its expiry is pushed back when it is made and every eighth event after: a player
      -- posting less often than that in `idle_s` is no bot worth a sketch
      if struct.unpack(SKETCH, out[2]) % 8 == 1 then keep(key) end
    end
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
  local zkey, meta = '{lb}:det:r:' .. board, '{lb}:det:r:' .. board .. ':since'
  if redis.call('SET', zkey .. ':judged', '1', 'PX', rate_every_ms, 'NX') then
    redis.call('SREM', k_judge, board)
    local m = redis.call('HMGET', meta, 'since', 'mark')
    local since, mark = tonumber(m[1] or now_s), tonumber(m[2] or now_s)
    local age = (now_s - mark) / tau_s
    if age > 200 then  -- weights near exp(200): bring every score to a new landmark
      redis.call('ZUNIONSTORE', zkey, 1, zkey, 'WEIGHTS', math.exp(-age))
      redis.call('HSET', meta, 'mark', ft(now_s))
      age = 0
    end
    local scale = math.exp(-age)  -- a score times this: the gain now
    redis.call('ZREMRANGEBYSCORE', zkey, '-inf', '(' .. (EPS / scale))
    local population = redis.call('ZCARD', zkey)
    -- a board is judged once it has had a window of play: before, players who came
    -- first have had longer to gain than the rest
    if population >= rate_min and now_s - since >= tau_s then
      local sample = redis.call('ZRANDMEMBER', zkey, SAMPLE, 'WITHSCORES')
      local xs = {}
      for i = 2, #sample, 2 do xs[#xs + 1] = tonumber(sample[i]) * scale end
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
          local g = tonumber(top[i + 1]) * scale
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
