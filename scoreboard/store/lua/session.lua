-- Is this session live, does its player exist, are they banned? One round trip.
-- Replies 'OK', 'UNAUTHORIZED' or 'FORBIDDEN'.
-- KEYS: revoked, profiles, banned
-- ARGV: uid
local k_revoked, k_profiles, k_banned = KEYS[1], KEYS[2], KEYS[3]
local uid = ARGV[1]

return check_player(k_revoked, k_profiles, k_banned, uid) or 'OK'
