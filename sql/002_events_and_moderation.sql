-- The audit log / persistence sink: one row per accepted increment.
-- id is the Redis stream id in batch mode ("1690123456789-0"), or "d-<uuid>"
-- in direct mode, so a replayed batch inserts nothing twice.
CREATE TABLE score_events (
    id TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    action_type VARCHAR(64) NOT NULL,
    score_increment BIGINT NOT NULL CHECK (score_increment > 0),
    seq BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX idx_score_events_user ON score_events(user_id, seq);

-- The tie order: the board-wide sequence number of the increment that made
-- each total, so a reseeded Redis ranks equal scores exactly as before.
ALTER TABLE scores ADD COLUMN reached_seq BIGINT NOT NULL DEFAULT 0;

-- Banned players keep their history but are hidden from every ranking.
ALTER TABLE users ADD COLUMN banned_at TIMESTAMPTZ;

CREATE TABLE admin_audit (
    id BIGSERIAL PRIMARY KEY,
    actor_id UUID NOT NULL,
    action VARCHAR(32) NOT NULL,
    target_id UUID,
    detail JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
