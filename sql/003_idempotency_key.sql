-- Direct mode records each request's Idempotency-Key with its event, so a retry
-- after a crash between the COMMIT and the Redis step can never count twice.
ALTER TABLE score_events ADD COLUMN idempotency_key TEXT;

CREATE UNIQUE INDEX idx_score_events_idempotency
    ON score_events (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
