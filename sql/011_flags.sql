-- Anomaly flags: who to look at, with the evidence. `key` names the evidence (the
-- detector, board, player and the event or instant that raised it), so a flag moved
-- twice from Redis is written once; one open flag at most per player, detector, board.
CREATE TABLE flags (
    id UUID PRIMARY KEY,
    seq BIGSERIAL UNIQUE,  -- newest first, and the pages' cursor
    key TEXT NOT NULL UNIQUE,
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    board TEXT NOT NULL,
    detector TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    evidence JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'dismissed', 'banned')),
    resolved_at TIMESTAMPTZ,
    resolved_by UUID
);
CREATE UNIQUE INDEX flags_one_open ON flags (user_id, detector, board) WHERE status = 'open';
CREATE INDEX flags_by_status ON flags (status, seq);
-- A player's latest events (GET /api/v1/admin/users/{id}/events): a BRIN index on the
-- time finds the recent pages (events arrive in time order), searched in widening
-- windows. A B-tree by player would cost every event insert (007); a BRIN index
-- costs an insert next to nothing.
CREATE INDEX score_events_created_brin ON score_events USING brin (created_at);
