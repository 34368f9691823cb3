-- Trusted writes. A deployment has a tag that its server keys carry, so a key of
-- another deployment is told apart from a mistyped one.
CREATE TABLE deployment (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    tag TEXT NOT NULL
);
INSERT INTO deployment (tag)
    VALUES (substr(encode(sha256(gen_random_uuid()::text::bytea), 'hex'), 1, 8));

-- Server keys: the secret is never stored, only its SHA-256.
CREATE TABLE server_keys (
    id UUID PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    actions TEXT[],  -- NULL: every action
    secret_hash BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

-- Who wrote each event (NULL: the player's own token) and its metadata.
ALTER TABLE score_events ADD COLUMN key_id UUID, ADD COLUMN metadata JSONB;
-- The metadata of the score that counts, per board row and in the archive.
ALTER TABLE scores ADD COLUMN metadata JSONB;
ALTER TABLE board_scores ADD COLUMN metadata JSONB;
ALTER TABLE season_standings ADD COLUMN metadata JSONB;
-- A board that takes scores from server keys only.
ALTER TABLE boards ADD COLUMN authoritative BOOLEAN NOT NULL DEFAULT FALSE;
