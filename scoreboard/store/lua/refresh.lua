-- End a session for a refresh, atomically: only a live session of an existing,
-- unbanned player, within the refresh rate, is ended (revoked until its token
-- expires, its sockets told to close). Of concurrent refreshes of one token only
-- the first finds it live. Replies {'OK'}, {'UNAUTHORIZED'}, {'FORBIDDEN'} or
-- {'RATE_LIMITED', wait_ms}.
-- KEYS: revoked, profiles, banned, rate
-- ARGV: uid, jti, ttl_ms, limit, period_ms, channel
local k_revoked, k_profiles, k_banned, k_rate = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local uid, jti, ttl_ms, limit = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local period_ms, channel = tonumber(ARGV[5]), ARGV[6]

local status = check_player(k_revoked, k_profiles, k_banned, uid)
if status then return {status} end
local wait = rate_limit(k_rate, limit, period_ms, now_ms())
if wait > 0 then return {'RATE_LIMITED', wait} end
redis.call('SET', k_revoked, 1, 'PX', ttl_ms)
publish_event(channel, {kind = 'revoke', jti = jti})
return {'OK'}
