-- Hide a player from every board (ban) or restore them (unban), atomically.
-- Returns the number of boards whose top 10 changed (a push is due there), or STALE.
-- KEYS: banned, version; per board: scores, member, hidden, boardseq
-- ARGV: action, uid, channel, top_n, version; per board: board, season
local k_banned, k_version = KEYS[1], KEYS[2]
local action, uid, channel, top_n, version = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local boards = per_board(KEYS, 2, {'scores', 'member', 'hidden', 'boardseq'}, ARGV, 5, {'board', 'season'})

if stale(k_version, version) then return 'STALE' end
local from, to = 'scores', 'hidden'
if action == 'ban' then
  redis.call('SADD', k_banned, uid)
else
  redis.call('SREM', k_banned, uid)
  from, to = 'hidden', 'scores'
end
local changed = 0
for _, b in ipairs(boards) do
  local member = redis.call('HGET', b.member, uid)
  local score = member and redis.call('ZSCORE', b[from], member)
  if score then
    local rank = redis.call('ZREVRANK', b.scores, member)  -- while visible (ban)
    redis.call('ZADD', b[to], score, member)
    redis.call('ZREM', b[from], member)
    rank = rank or redis.call('ZREVRANK', b.scores, member)  -- once visible (unban)
    if rank + 1 <= top_n then
      changed = changed + 1
      publish_event(channel, {kind = 'refresh', board = b.board, season = tonumber(b.season),
                              seq = redis.call('INCR', b.boardseq)})
    end
  end
end
if action == 'ban' then
  publish_event(channel, {kind = 'revoke', user_id = uid})
end
return changed
