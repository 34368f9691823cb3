-- Score updates, each atomically on every board it feeds (batch mode: Redis is the live
-- truth, the stream carries each event to PostgreSQL). One call takes one update or a
-- batch's many; each is checked and applied on its own, as if alone.
-- KEYS: seq, events, profiles, banned, version; per update: revoked, rate, idem; per board: scores, member, boardseq, meta
-- ARGV: idem_ttl_s, max_total, channel, top_n, version; per update: uid, action, value, body, limit, period_ms, use_idem, writer, metadata, nboards; per board: board, season, operator, order, rules
-- Replies {'STALE'}, or one reply per update: a refusal, a replay, or the scores (per
-- board 7 numbers: update_board's 5, then 0 or the GATES number of why the board did
-- not take it, and the attempts left there, -1 when not limited).
local k_seq, k_events, k_profiles, k_banned, k_version = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local idem_ttl_s, max_total, channel, top_n = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local version = ARGV[5]
local updates = per_update(KEYS, 5, {'revoked', 'rate', 'idem'}, {'scores', 'member', 'boardseq', 'meta'}, ARGV, 5, {'uid', 'action', 'value', 'body', 'limit', 'period_ms', 'use_idem', 'writer', 'metadata', 'nboards'}, {'board', 'season', 'operator', 'order', 'rules'})

if stale(k_version, version) then return {'STALE'} end
-- one time and one revocation check per writer for the whole call: its updates arrived
-- together
local now_given, revoked = #updates > 1 and now_ms() or nil, {}
local held = #updates > 1 and {} or nil  -- which metadata hashes exist (keep_metadata)

local function apply(u)
  local uid, value, use_idem, boards = u.uid, tonumber(u.value), u.use_idem == '1', u.boards
  local refusal, now = admit_update(u.revoked, k_profiles, k_banned, u.rate, u.idem, uid,
    u.body, use_idem, tonumber(u.limit), tonumber(u.period_ms), boards, value, max_total,
    u.writer, now_given, revoked)
  if refusal then return refusal end
  local seq, now_s = redis.call('INCR', k_seq), int_str(now)
  local out, fed = {'OK', now, #boards}, {}
  for i = 1, #boards do
    local b = boards[i]
    local n = #out
    if b.gate then
      out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = 0, 0, -1, 0, 0
      out[n + 6], out[n + 7] = GATES[b.gate], -1
    else
      local left = enter(b, uid)
      update_board(b, uid, value, u.metadata, seq, now_s, channel, top_n, out, held)
      out[n + 6], out[n + 7] = 0, left
      fed[#fed + 1] = b
      if b.bucket and (out[n + 1] ~= out[n + 2] or out[n + 3] < 0)
          and redis.call('EXISTS', '{lb}:b:' .. b.board .. ':watched') == 1 then
        -- the bucket's standings moved, and some process has watchers of this league
        publish_event(channel, {kind = 'bucket', board = b.board, season = tonumber(b.season),
                                bucket = tonumber(b.bucket), user_id = uid, t = now_s})
      end
    end
  end
  local event = {'u', uid, 'a', u.action, 'i', u.value, 's', seq, 't', now_s,
                 'b', boards_field(fed)}
  if u.writer ~= '' then event[#event + 1], event[#event + 2] = 'w', u.writer end
  if u.metadata ~= '' then event[#event + 1], event[#event + 2] = 'm', u.metadata end
  redis.call('XADD', k_events, '*', unpack(event))
  return score_reply(u.idem, use_idem, u.body, idem_ttl_s, out)
end

local replies = {}
for i = 1, #updates do replies[i] = apply(updates[i]) end
return replies
