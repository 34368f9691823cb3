-- Competitions: tournaments (a window, joining, a size and attempts limit) and leagues
-- (tiers and buckets). A board's definition carries them; NULL/false: not limited.
ALTER TABLE boards
    ADD COLUMN starts_at TIMESTAMPTZ,
    ADD COLUMN ends_at TIMESTAMPTZ,
    ADD COLUMN join_required BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN max_size INTEGER,
    ADD COLUMN max_attempts INTEGER,
    ADD COLUMN league JSONB;

-- A league season's standings also say where each player played: the bucket, the tier
-- it was of (an index into the league's tiers), the rank in it, and the tier the
-- player moves to for the next season.
ALTER TABLE season_standings
    ADD COLUMN bucket INTEGER,
    ADD COLUMN tier SMALLINT,
    ADD COLUMN bucket_rank INTEGER,
    ADD COLUMN next_tier SMALLINT;
CREATE INDEX season_standings_bucket ON season_standings (board_id, season, bucket)
    WHERE bucket IS NOT NULL;

-- Each league player's tier as of the last season they played in whose promotion is
-- done (players never seen are in the lowest tier, 0): only the players who moved are
-- written, once per season. No foreign keys: a big league's end writes hundreds of
-- thousands of rows, and their checks were most of its time; the rows come from
-- placements of existing players on an existing board.
CREATE TABLE league_tiers (
    board_id TEXT NOT NULL,
    user_id UUID NOT NULL,
    tier SMALLINT NOT NULL,
    season INTEGER NOT NULL,  -- the season whose end set it
    PRIMARY KEY (board_id, user_id)
);

-- An archived league season's tiers reach Redis after the archive's COMMIT; until
-- this is set the step is redone (it is idempotent), and the season's keys stay.
ALTER TABLE board_seasons ADD COLUMN tiers_shown_at TIMESTAMPTZ;
