-- Hide a player from every ranking (ban) or restore them (unban), atomically.
-- Returns 1 when the top 10 changed (a push is due), else 0.
-- KEYS: scores, member, hidden, banned, boardseq
-- ARGV: action, uid, channel, top_n
local k_scores, k_member, k_hidden, k_banned, k_boardseq = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local action, uid, channel, top_n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local member = redis.call('HGET', k_member, uid)
local changed = 0
if action == 'ban' then
  redis.call('SADD', k_banned, uid)
  if member then
    local score = redis.call('ZSCORE', k_scores, member)
    if score then
      local rank = redis.call('ZREVRANK', k_scores, member) + 1
      redis.call('ZADD', k_hidden, score, member)
      redis.call('ZREM', k_scores, member)
      if rank <= top_n then changed = 1 end
    end
  end
else
  redis.call('SREM', k_banned, uid)
  if member then
    local score = redis.call('ZSCORE', k_hidden, member)
    if score then
      redis.call('ZADD', k_scores, score, member)
      redis.call('ZREM', k_hidden, member)
      if redis.call('ZREVRANK', k_scores, member) + 1 <= top_n then changed = 1 end
    end
  end
end
if changed == 1 then
  publish_event(channel, 'refresh', {seq = redis.call('INCR', k_boardseq)})
end
if action == 'ban' then
  publish_event(channel, 'revoke', {user_id = uid})
end
return changed
