-- Shared helpers: every script is this file followed by its own body.
-- A script's own first lines name its KEYS and ARGV (store/scripts.py names them
-- the same, and a test holds the two to each other).
-- Member encoding: a zero-padded inverted board sequence, ':' and the user id.
-- Equal scores then order (ZREVRANGE) by who reached the score first.
local TIE_BASE = 999999999999999

local function now_ms()
  local t = redis.call('TIME')
  local us = t[2] + 0  -- arithmetic reads the digits: no call into C (tonumber, math.floor)
  return t[1] * 1000 + (us - us % 1000) / 1000
end

-- cjson and tostring print numbers with 14 digits; totals need all of theirs.
local function int_str(x)
  return string.format('%d', x)
end

local function member_for(seq, uid)
  return string.format('%015d', TIE_BASE - seq) .. ':' .. uid
end

-- Returns an error status, or nil when the session (or the server key: `writer` is its
-- id, '' for the player's own token) is live and the player may score. A key naming no
-- such player is NOT_FOUND; a token of a player that is gone is UNAUTHORIZED.
-- `revoked` (optional): a table remembering each revocation key's answer, for a script
-- that checks one writer's many updates.
local function check_player(k_revoked, k_profiles, k_banned, uid, writer, revoked)
  local gone = revoked and revoked[k_revoked]
  if gone == nil then
    gone = redis.call('EXISTS', k_revoked) == 1
    if revoked then revoked[k_revoked] = gone end
  end
  if gone then return 'UNAUTHORIZED' end
  if redis.call('HEXISTS', k_profiles, uid) == 0 then
    if writer ~= nil and writer ~= '' then return 'NOT_FOUND' end
    return 'UNAUTHORIZED'
  end
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
  local reply = {'REPLAY'}
  for _, v in ipairs(rec.r) do reply[#reply + 1] = v end
  return reply
end

-- The reply of an applied update: `r` is {'OK', now, n, then for each of n boards:
-- previous score, new score, previous rank (-1: unranked), rank, board sequence}, the
-- numbers as Lua numbers (integer replies: exact, as every one is below 2^53). With an
-- Idempotency-Key it is recorded for replays (check_idem), as text: cjson prints 14 digits.
-- (Loops here and below count instead of calling ipairs: in Redis's Lua a call into C
-- costs about as much as a redis.call.)
local function score_reply(k_idem, use_idem, body, ttl_s, r)
  if use_idem then
    local saved = {}
    for i = 2, #r do saved[i - 1] = int_str(r[i]) end
    redis.call('SET', k_idem, cjson.encode({h = body, r = saved}), 'EX', ttl_s)
  end
  return r
end

-- GCRA: at most `limit` admissions per `period` ms, spread or in one burst.
-- Returns 0 when admitted, else the milliseconds to wait. The key lives until the
-- theoretical arrival time (PXAT: an absolute instant, which Redis also propagates as
-- given, where PX is rewritten for replicas on every call).
local function rate_limit(k_rate, limit, period, now)
  local interval = period / limit
  local raw = redis.call('GET', k_rate)
  local tat = raw and tonumber(raw) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - period
  if allow_at > now then return math.ceil(allow_at - now) end
  redis.call('SET', k_rate, string.format('%d', new_tat), 'PXAT', math.ceil(new_tat))
  return 0
end

-- Gives back one admission that rate_limit granted (the work it admitted failed).
local function rate_refund(k_rate, limit, period)
  local raw = redis.call('GET', k_rate)
  if raw then
    redis.call('SET', k_rate, string.format('%d', tonumber(raw) - period / limit), 'KEEPTTL')
  end
end

-- Updates and boards. A script that works on several boards takes a fixed head of KEYS
-- and ARGV, then one group per board; per_board reads the groups into tables by name.
-- One that takes several updates (per_update) has a group per update, each followed by
-- its boards' groups (the update's ARGV group ends with how many).
local function per_board(keys, key_head, key_names, argv, arg_head, arg_names, count)
  local boards = {}
  local nk, na = #key_names, #arg_names
  for i = 1, count or (#keys - key_head) / nk do
    local b = {sign = 1}
    local kb, ab = key_head + (i - 1) * nk, arg_head + (i - 1) * na
    for j = 1, nk do b[key_names[j]] = keys[kb + j] end
    for j = 1, na do b[arg_names[j]] = argv[ab + j] end
    if b.order == 'asc' then b.sign = -1 end
    boards[i] = b
  end
  return boards
end

local function per_update(keys, key_head, key_names, board_key_names,
                          argv, arg_head, arg_names, board_arg_names)
  local updates = {}
  local ki, ai = key_head, arg_head
  local nk, na, nbk, nba = #key_names, #arg_names, #board_key_names, #board_arg_names
  while ai < #argv do
    local u = {}
    for j = 1, nk do u[key_names[j]] = keys[ki + j] end
    for j = 1, na do u[arg_names[j]] = argv[ai + j] end
    ki, ai = ki + nk, ai + na
    local n = tonumber(u[arg_names[na]])
    u.boards = per_board(keys, ki, board_key_names, argv, ai, board_arg_names, n)
    ki, ai = ki + n * nbk, ai + n * nba
    updates[#updates + 1] = u
  end
  return updates
end

-- Stale definitions: the caller's view of the boards is not Redis's (it reloads).
local function stale(k_version, version)
  return (redis.call('GET', k_version) or '0') ~= version
end

-- The player's score on board b as shown (asc boards store it negated), or nil; read
-- once per script run and kept on b (b.own: the player's member there, or false).
local function shown_score(b, uid)
  if b.loaded then return b.current end
  b.loaded = true
  b.own = redis.call('HGET', b.member, uid)
  local s = b.own and redis.call('ZSCORE', b.scores, b.own)
  b.current = s and tonumber(s) * b.sign or nil
  return b.current
end

-- The score `value` makes on board b under its operator, or nil when it changes nothing:
-- incr adds; best keeps the better (higher on desc, lower on asc); latest replaces.
local function next_score(b, current, value)
  if current == nil then return value end
  if b.operator == 'incr' then return current + value end
  if b.operator == 'best' then
    if value * b.sign > current * b.sign then return value end
    return nil
  end
  return value
end

-- Would `value` take an incr board past the ceiling? (best/latest scores are capped by
-- the action's maximum, far below it.)
local function exceeds_on(boards, uid, value, max_total)
  for i = 1, #boards do
    local b = boards[i]
    if not b.gate and b.operator == 'incr' and (shown_score(b, uid) or 0) + value > max_total then
      return true
    end
  end
  return false
end

-- Competitions (board/competition.py writes each board's `rules`: '' for none, else
-- "opens,closes,join_required,max_size,max_attempts[,tiers,bucket_size,promote,relegate]"
-- with 0 for none). Their keys are the board season's, named as store/keys.py names them
-- (all under {lb}): joined (set), attempts (hash), placed (hash: player -> bucket),
-- league (hash: n buckets, o<tier> its open bucket, t<bucket> its tier, c<bucket> its
-- size), bk:<bucket> (set); and the board's tiers (hash: player -> tier as of the last
-- season shown, tiers:through).
local GATES = {CLOSED = 1, NOT_JOINED = 2, FULL = 3, NO_ATTEMPTS = 4}

local function season_prefix(board, season)
  local p = '{lb}:b:' .. board
  if tonumber(season) == 1 then return p end
  return p .. ':s' .. season
end

local function read_rules(b)
  if b.r ~= nil then return b.r end
  if b.rules == nil or b.rules == '' then b.r = false; return false end
  local v = {}
  for x in string.gmatch(b.rules, '[^,]+') do v[#v + 1] = tonumber(x) end
  local s = season_prefix(b.board, b.season)
  b.r = {opens = v[1], closes = v[2], join = v[3] == 1, max_size = v[4],
         max_attempts = v[5], tiers = v[6], bucket_size = v[7], promote = v[8],
         relegate = v[9], prefix = s, joined = s .. ':joined', attempts = s .. ':attempts',
         placed = s .. ':placed', league = s .. ':league'}
  return b.r
end

-- Read only: nil when board b takes the player's update now, else why not (a GATES
-- name). Remembers what enter() needs on b.r.
local function gate(b, uid, now)
  local r = read_rules(b)
  if not r then return nil end
  if (r.opens > 0 and now < r.opens) or (r.closes > 0 and now >= r.closes) then
    return 'CLOSED'
  end
  r.seated = true
  if r.join or r.max_size > 0 then
    r.seated = redis.call('SISMEMBER', r.joined, uid) == 1
    if not r.seated then
      if r.join then return 'NOT_JOINED' end
      if redis.call('SCARD', r.joined) >= r.max_size then return 'FULL' end
    end
  end
  if r.max_attempts > 0 then
    local used = tonumber(redis.call('HGET', r.attempts, uid) or '0')
    if used >= r.max_attempts then return 'NO_ATTEMPTS' end
  end
  return nil
end

-- Gates every board of an update (b.gate); the refusal when none takes it.
local function gate_all(boards, uid, now)
  local open = #boards
  for i = 1, #boards do
    local b = boards[i]
    b.gate = gate(b, uid, now)
    if b.gate then open = open - 1 end
  end
  if open == 0 then return {'GATED', GATES[boards[1].gate]} end
  return nil
end

-- A league bucket's ranks in season `s` (key prefix): its tier, and its ranked
-- players in order, each {stored score, tie-encoded member, user id} (a hidden,
-- banned player is not ranked). Three calls whatever the bucket's size: the order is
-- the board's (higher stored score first, then the greater member: who reached the
-- score first), as ZREVRANK would give it.
local function bucket_places(s, bucket)
  local tier = tonumber(redis.call('HGET', s .. ':league', 't' .. bucket))
  local members = redis.call('SMEMBERS', s .. ':bk:' .. bucket)
  local ranked = {}
  if #members == 0 then return tier, ranked end
  local ties = redis.call('HMGET', s .. ':member', unpack(members))
  local held, whose = {}, {}
  for i = 1, #ties do
    if ties[i] then held[#held + 1], whose[#held + 1] = ties[i], members[i] end
  end
  if #held == 0 then return tier, ranked end
  local scores = redis.call('ZMSCORE', s .. ':scores', unpack(held))
  for i = 1, #held do
    if scores[i] then ranked[#ranked + 1] = {tonumber(scores[i]), held[i], whose[i]} end
  end
  table.sort(ranked, function(x, y)
    if x[1] ~= y[1] then return x[1] > y[1] end
    return x[2] > y[2]
  end)
  return tier, ranked
end

-- The tier the player at `place` of `n` ranked in a bucket of `tier` moves to: the top
-- `promote` go up, the bottom `relegate` down (never past the ends; a player in both
-- zones of a small bucket is promoted). The same rule as the archive's SQL
-- (board/league.py).
local function next_tier(tier, place, n, r)
  if place <= r.promote then return math.min(tier + 1, r.tiers - 1) end
  if place > math.max(r.promote, n - r.relegate) then return math.max(tier - 1, 0) end
  return tier
end

local function outcome(s, bucket, uid, r)
  local tier, ranked = bucket_places(s, bucket)
  for i = 1, #ranked do
    if ranked[i][3] == uid then return next_tier(tier, i, #ranked, r) end
  end
  return tier  -- hidden (banned): keeps the tier
end

-- A player's tier for season `season` of a league: the outcome of the latest season
-- they played that is not yet shown in the board's tiers hash, else that hash's (0
-- for a newcomer: the lowest tier).
local function tier_for(board, season, uid, r)
  local p = '{lb}:b:' .. board
  local through = tonumber(redis.call('GET', p .. ':tiers:through') or '0')
  for k = season - 1, math.max(through + 1, season - 16), -1 do
    local s = season_prefix(board, k)
    local bucket = redis.call('HGET', s .. ':placed', uid)
    if bucket then return outcome(s, bucket, uid, r) end
  end
  return tonumber(redis.call('HGET', p .. ':tiers', uid) or '0')
end

-- The player's bucket this season: placed on their first score in the open bucket of
-- their tier, which fills up to bucket_size in order of arrival before a new one opens.
local function place(b, r, uid)
  local bucket = redis.call('HGET', r.placed, uid)
  if bucket then return bucket end
  local tier = tier_for(b.board, tonumber(b.season), uid, r)
  bucket = redis.call('HGET', r.league, 'o' .. tier)
  if not bucket or tonumber(redis.call('HGET', r.league, 'c' .. bucket)) >= r.bucket_size then
    bucket = redis.call('HINCRBY', r.league, 'n', 1)
    redis.call('HSET', r.league, 'o' .. tier, bucket, 't' .. bucket, tier)
  end
  redis.call('HINCRBY', r.league, 'c' .. bucket, 1)
  redis.call('HSET', r.placed, uid, bucket)
  redis.call('SADD', r.prefix .. ':bk:' .. bucket, uid)
  return bucket
end

-- What a fed update takes on board b (after gate): a seat, an attempt, a bucket.
-- Returns the attempts left (-1: not limited).
local function enter(b, uid)
  local r = b.r
  if not r then return -1 end
  if not r.seated then redis.call('SADD', r.joined, uid) end
  local left = -1
  if r.max_attempts > 0 then
    left = r.max_attempts - redis.call('HINCRBY', r.attempts, uid, 1)
  end
  if r.tiers then b.bucket = place(b, r, uid) end
  return left
end

-- The checks every update passes, in order: session and player, Idempotency-Key, the
-- competitions' gates (some board must take it), the totals' ceiling on the boards that
-- take it (exceeds_on, below), the rate. Returns a reply to give at once, or nil and the
-- time. `now` and `revoked` (optional): a batch's time, read once, and its memo of
-- revocations (check_player).
local function admit_update(k_revoked, k_profiles, k_banned, k_rate, k_idem, uid, body,
                            use_idem, limit, period, boards, value, max_total, writer,
                            now, revoked)
  local status = check_player(k_revoked, k_profiles, k_banned, uid, writer, revoked)
  if status then return {status} end
  if use_idem then
    local reply = check_idem(k_idem, body)
    if reply then return reply end
  end
  now = now or now_ms()
  local gated = gate_all(boards, uid, now)
  if gated then return gated end
  if exceeds_on(boards, uid, value, max_total) then return {'SCORE_LIMIT_EXCEEDED'} end
  local wait = rate_limit(k_rate, limit, period, now)
  if wait > 0 then return {'RATE_LIMITED', wait} end
  return nil, now
end

-- Moves the player to `total` reached at board sequence `seq`.
-- Returns previous score, previous rank (-1 if unranked), new rank.
local function apply_total(k_scores, k_member, uid, total, seq, known, known_score)
  local old = known
  if old == nil then old = redis.call('HGET', k_member, uid) end
  local prev_score, prev_rank = 0, -1
  if old then
    local s = known_score
    if s == nil then s = redis.call('ZSCORE', k_scores, old) end
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
-- (store/events.py decodes them; it holds the same vocabulary). The callers build
-- `fields` with its kind: one table, sized once.
local function publish_event(channel, fields)
  redis.call('PUBLISH', channel, cjson.encode(fields))
end

-- A change of a board's top 10: bump that board's sequence and tell every process.
-- The top 10 changed when the player is in it now or was in it before (prev_rank -1:
-- unranked): one who leaves it (a `latest` score going down, an `incr` total on an
-- `asc` board going up) changes it as much as one who enters. `now_s`: the time as text.
local function announce(b, channel, top_n, uid, prev_rank, rank, score, now_s)
  if rank > top_n and (prev_rank < 1 or prev_rank > top_n) then return 0 end
  local board = redis.call('INCR', b.boardseq)
  publish_event(channel, {
    kind = 'change', board = b.board, season = tonumber(b.season), seq = board,
    user_id = uid, previous_rank = prev_rank, rank = rank, score = int_str(score), t = now_s,
  })
  return board
end

-- The metadata of a player's score on board b (JSON text; '' for none) goes with the
-- score that counts: set or cleared whenever the score is made anew.
-- `held` (optional): a table remembering which of these hashes exist, for a script
-- applying many updates (a board no one gave metadata to then costs one EXISTS, not
-- one HDEL per update).
local function keep_metadata(b, uid, metadata, held)
  if metadata ~= '' then
    redis.call('HSET', b.meta, uid, metadata)
    if held then held[b.meta] = true end
    return
  end
  if held then
    local exists = held[b.meta]
    if exists == nil then
      exists = redis.call('EXISTS', b.meta) == 1
      held[b.meta] = exists
    end
    if not exists then return end
  end
  redis.call('HDEL', b.meta, uid)
end

-- Applies `value` to board b at tie sequence `seq`; appends to `out` what the reply
-- says of the board (previous and new score, previous rank, rank, board sequence).
local function update_board(b, uid, value, metadata, seq, now_s, channel, top_n, out, held)
  local current = shown_score(b, uid)
  local target = next_score(b, current, value)
  local prev_score, prev_rank, rank, board
  if target == nil then  -- a best that is not better: nothing moves
    rank = redis.call('ZREVRANK', b.scores, b.own) + 1
    prev_score, prev_rank, target, board = current, rank, current, 0
  else
    local known_score = current and current * b.sign or false
    prev_score, prev_rank, rank = apply_total(b.scores, b.member, uid, target * b.sign, seq,
                                              b.own, known_score)
    prev_score = prev_score * b.sign
    keep_metadata(b, uid, metadata, held)
    board = announce(b, channel, top_n, uid, prev_rank, rank, target, now_s)
  end
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = prev_score, target, prev_rank,
    rank, board
end

-- The boards an event fed, for PostgreSQL: "id/season/operator/order,...".
local function boards_field(boards)
  local field = ''
  for i = 1, #boards do
    local b = boards[i]
    if i > 1 then field = field .. ',' end
    field = field .. b.board .. '/' .. b.season .. '/' .. b.operator .. '/' .. b.order
  end
  return field
end
