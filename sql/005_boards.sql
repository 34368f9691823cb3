-- Many boards. `global` is the seed's board: its totals stay in `scores`;
-- every other board's totals live in board_scores, per season.
CREATE TABLE boards (
    id TEXT PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    title VARCHAR(100) NOT NULL,
    sort_order TEXT NOT NULL DEFAULT 'desc' CHECK (sort_order IN ('desc', 'asc')),
    operator TEXT NOT NULL DEFAULT 'incr' CHECK (operator IN ('incr', 'best', 'latest')),
    actions TEXT[],  -- NULL: every action of the catalogue
    reset TEXT,  -- a 5-field cron expression, or NULL
    timezone TEXT NOT NULL DEFAULT 'UTC',
    season INTEGER NOT NULL DEFAULT 1,
    season_started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at TIMESTAMPTZ  -- set: out of the lists, refuses scores, history kept
);

INSERT INTO boards (id, title) VALUES ('global', 'Global');

CREATE TABLE board_scores (
    board_id TEXT NOT NULL REFERENCES boards(id),
    season INTEGER NOT NULL,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    score BIGINT NOT NULL,
    reached_seq BIGINT NOT NULL,  -- the tie order, as scores.reached_seq
    last_updated TIMESTAMPTZ NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,  -- events applied
    PRIMARY KEY (board_id, season, user_id)
);

-- The boards an event fed: "id/season/operator/order,...". NULL (events from
-- before boards): `global` only.
ALTER TABLE score_events ADD COLUMN boards TEXT;
