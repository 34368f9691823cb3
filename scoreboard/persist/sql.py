"""Every statement that writes scores to PostgreSQL, and the two ways they run:
a staged batch (Worker 1) and one increment at a time (direct mode).

Both insert ``score_events`` rows ``ON CONFLICT DO NOTHING`` and raise
``scores`` by exactly what was inserted, in one statement, so a replay counts
nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg


def _raise_totals(source: str) -> str:
    """Add per-player rows ``(user_id, inc, at, n, seq)`` selected by ``source`` to
    ``scores``: the total and version grow, the time and tie sequence keep the latest."""
    return f"""
INSERT INTO scores AS s (user_id, total_score, last_updated, version, reached_seq)
{source}
ON CONFLICT (user_id) DO UPDATE SET
    total_score = s.total_score + EXCLUDED.total_score,
    version = s.version + EXCLUDED.version,
    last_updated = GREATEST(s.last_updated, EXCLUDED.last_updated),
    reached_seq = GREATEST(s.reached_seq, EXCLUDED.reached_seq)"""


STAGE = """
CREATE TEMP TABLE IF NOT EXISTS score_stage (
    id TEXT, user_id UUID, action_type TEXT, score_increment BIGINT, seq BIGINT,
    created_ms BIGINT
) ON COMMIT DELETE ROWS
"""
STAGE_COLUMNS = ["id", "user_id", "action_type", "score_increment", "seq", "created_ms"]
APPLY_STAGED = """
WITH inserted AS (
    INSERT INTO score_events (id, user_id, action_type, score_increment, seq, created_at)
    SELECT id, user_id, action_type, score_increment, seq, to_timestamp(created_ms / 1000.0)
    FROM score_stage
    ON CONFLICT (id) DO NOTHING
    RETURNING user_id, score_increment, seq, created_at
), per_user AS (
    SELECT user_id, sum(score_increment) AS inc, count(*) AS n, max(seq) AS seq,
           max(created_at) AS at
    FROM inserted GROUP BY user_id
)""" + _raise_totals("SELECT user_id, inc, at AT TIME ZONE 'UTC', n, seq FROM per_user")

APPLY_ONE = """
WITH event AS (
    INSERT INTO score_events
        (id, user_id, action_type, score_increment, seq, created_at, idempotency_key)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT DO NOTHING
    RETURNING user_id, score_increment, seq, created_at
)""" + _raise_totals(
    "SELECT user_id, score_increment, created_at AT TIME ZONE 'UTC', 1, seq FROM event"
) + "\nRETURNING total_score"


async def write_events(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    """One transaction: stage by COPY, insert what is new, raise totals by what was new.
    ``records`` are rows in ``STAGE_COLUMNS`` order."""
    async with conn.transaction():
        await conn.execute(STAGE)
        await conn.copy_records_to_table("score_stage", records=records, columns=STAGE_COLUMNS)
        await conn.execute(APPLY_STAGED)


async def commit_direct(pool: asyncpg.Pool, user_id: str, action: str, increment: int,
                        seq: int, at_ms: int, idempotency_key: str | None) -> tuple[int, bool]:
    """Direct mode: the increment and the new total in one statement.

    Returns the committed total and whether this call inserted the event (False:
    the same Idempotency-Key was committed before, and the total is today's).
    """
    uid = uuid.UUID(user_id)
    at = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    total = await pool.fetchval(APPLY_ONE, f"d-{uuid.uuid4().hex}", uid, action, increment, seq,
                                at, idempotency_key)
    if total is not None:
        return int(total), True
    current = await pool.fetchval("SELECT total_score FROM scores WHERE user_id = $1", uid)
    return int(current or 0), False
