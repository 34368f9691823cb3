-- score_events(user_id, seq) served no query: events are read by id (replays) and
-- by (user_id, idempotency_key) (direct mode's retries). Every insert paid for it:
-- bench.persist's staged SQL on the service's tables ran about a third faster
-- without it.
DROP INDEX IF EXISTS idx_score_events_user;
