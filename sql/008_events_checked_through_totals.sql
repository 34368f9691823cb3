-- score_events' foreign key to users ran a check per event row: PostgreSQL looked the
-- player up and locked its row once per event, 5000 times per batch, which made
-- Worker 1's INSERT about twice as slow as the same INSERT without it.
--
-- The player is still checked. Every event's transaction writes the player's totals
-- row for each board it fed (scores or board_scores, both with their foreign key to
-- users): a new totals row is checked on insert, and an existing one proves the
-- player is there (it goes when the player does, ON DELETE CASCADE). An event of an
-- unknown player fails its transaction as before, and Worker 1 dead-letters it.
--
-- Deleting a player still deletes its events, through the trigger below.
ALTER TABLE score_events DROP CONSTRAINT IF EXISTS score_events_user_id_fkey;

CREATE FUNCTION score_events_follow_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM score_events WHERE user_id = OLD.id;
    RETURN OLD;
END
$$;

CREATE TRIGGER users_delete_events AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION score_events_follow_user();
