-- Seasons. A board's live season is boards.season; each ended one has a row here.
-- The reset writes the row (ended_at, and cut_id: the last stream entry when Redis
-- moved to the next season); the archive step completes it once PostgreSQL holds the
-- season whole (players, winner, archived_at) and ranks its board_scores rows.
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

-- A past season's final standings: its rank, fixed when it was archived (banned
-- players then hidden, ties by who reached the score first, as live).
ALTER TABLE board_scores ADD COLUMN final_rank INTEGER;
CREATE INDEX board_scores_final_rank ON board_scores (board_id, season, final_rank)
    WHERE final_rank IS NOT NULL;
