-- Take or renew a lock held by `owner`; a dead holder's lock simply expires.
-- Replies 1 when `owner` holds the lock now, else 0.
-- KEYS: lock
-- ARGV: owner, ttl_ms
local k_lock = KEYS[1]
local owner, ttl_ms = ARGV[1], ARGV[2]

local holder = redis.call('GET', k_lock)
if holder == owner then redis.call('PEXPIRE', k_lock, ttl_ms) return 1 end
if not holder then redis.call('SET', k_lock, owner, 'PX', ttl_ms) return 1 end
return 0
