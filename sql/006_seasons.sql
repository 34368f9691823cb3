-- Seasons. A board's live season is boards.season; each ended one has a row here.
-- The reset writes the row (ended_at, and cut_id: the last stream entry when Redis
-- moved to the next season); the archive step completes it once PostgreSQL holds the
-- season whole (players, winner, archived_at) and writes its final standings.
CREATE TABLE board_seasons (
    board_id TEXT NOT NULL REFERENCES boards(id),
    season INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ NOT NULL,
    cut_id TEXT,  -- Redis stream id of the last event applied before the reset
    players INTEGER,
    winner_id UUID REFERENCES users(id) ON DELETE SET NULL,
    winner_score BIGINT,
    archived_at TIMESTAMPTZ,
    PRIMARY KEY (board_id, season)
);

-- A past season's final standings, written once when it is archived: rank (score by
-- the board's order, then who reached it first; banned players then hidden), player,
-- score and the tie sequence. Insert-only, so archiving a big season is one pass.
CREATE TABLE season_standings (
    board_id TEXT NOT NULL,
    season INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    user_id UUID NOT NULL,
    score BIGINT NOT NULL,
    reached_seq BIGINT NOT NULL,
    PRIMARY KEY (board_id, season, rank),
    FOREIGN KEY (board_id, season) REFERENCES board_seasons (board_id, season)
        ON DELETE CASCADE
);
CREATE INDEX season_standings_player ON season_standings (board_id, season, user_id);
