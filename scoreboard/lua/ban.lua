-- Hide a player from every ranking (ban) or restore them (unban), atomically.
-- KEYS: scores, member, hidden, banned, boardseq
-- ARGV: 'ban' | 'unban', uid, channel, top_n
-- Returns 1 when the top 10 changed (a push is due), else 0.
local uid, top_n = ARGV[2], tonumber(ARGV[4])
local member = redis.call('HGET', KEYS[2], uid)
local changed = 0
if ARGV[1] == 'ban' then
  redis.call('SADD', KEYS[4], uid)
  if member then
    local score = redis.call('ZSCORE', KEYS[1], member)
    if score then
      local rank = redis.call('ZREVRANK', KEYS[1], member) + 1
      redis.call('ZADD', KEYS[3], score, member)
      redis.call('ZREM', KEYS[1], member)
      if rank <= top_n then changed = 1 end
    end
  end
else
  redis.call('SREM', KEYS[4], uid)
  if member then
    local score = redis.call('ZSCORE', KEYS[3], member)
    if score then
      redis.call('ZADD', KEYS[1], score, member)
      redis.call('ZREM', KEYS[3], member)
      if redis.call('ZREVRANK', KEYS[1], member) + 1 <= top_n then changed = 1 end
    end
  end
end
if changed == 1 then
  local board = redis.call('INCR', KEYS[5])
  redis.call('PUBLISH', ARGV[3], cjson.encode({kind = 'refresh', seq = board}))
end
if ARGV[1] == 'ban' then
  redis.call('PUBLISH', ARGV[3], cjson.encode({kind = 'revoke', user_id = uid}))
end
return changed
