-- Joining a board's season (POST /api/v1/boards/{id}/join): a seat while the board is
-- upcoming or open and has room; joining twice changes nothing.
-- KEYS: profiles, banned, revoked, version
-- ARGV: uid, writer, version, board, season, rules
-- Replies {'STALE'}, a refusal ({'UNAUTHORIZED'}, {'NOT_FOUND'}, {'FORBIDDEN'}, or
-- {'GATED', n}: CLOSED or FULL), or {'OK', players seated, 1 if this call seated them}.
local k_profiles, k_banned, k_revoked, k_version = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local uid, writer, version, board, season, rules = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local b = {board = board, season = season, rules = rules}

if stale(k_version, version) then return {'STALE'} end
local status = check_player(k_revoked, k_profiles, k_banned, uid, writer)
if status then return {status} end
local r = read_rules(b)
local joined = r and r.joined or season_prefix(b.board, b.season) .. ':joined'
if r and r.closes > 0 and now_ms() >= r.closes then return {'GATED', GATES.CLOSED} end
if redis.call('SISMEMBER', joined, uid) == 1 then
  return {'OK', redis.call('SCARD', joined), 0}
end
if r and r.max_size > 0 and redis.call('SCARD', joined) >= r.max_size then
  return {'GATED', GATES.FULL}
end
redis.call('SADD', joined, uid)
return {'OK', redis.call('SCARD', joined), 1}
