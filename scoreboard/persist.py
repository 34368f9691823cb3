"""Worker 1: moves accepted increments from the ``{lb}:events`` stream to PostgreSQL.

Exactly once: each event's stream id is the primary key of its ``score_events``
row, and totals rise only by what the INSERT really inserted, in the same
transaction; the XACK comes after the COMMIT. A crash between the two replays
the batch, which then inserts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.exceptions import ResponseError

from . import metrics, store

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
LAG_COUNT_CAP = 10_000  # on Redis 6.2, /metrics counts undelivered events up to this

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS score_stage (
    id TEXT, user_id UUID, action_type TEXT, score_increment BIGINT, seq BIGINT,
    created_ms BIGINT
) ON COMMIT DELETE ROWS
"""
_STAGE_COLUMNS = ["id", "user_id", "action_type", "score_increment", "seq", "created_ms"]
_APPLY = """
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
)
INSERT INTO scores AS s (user_id, total_score, last_updated, version, reached_seq)
SELECT user_id, inc, at AT TIME ZONE 'UTC', n, seq FROM per_user
ON CONFLICT (user_id) DO UPDATE SET
    total_score = s.total_score + EXCLUDED.total_score,
    version = s.version + EXCLUDED.version,
    last_updated = GREATEST(s.last_updated, EXCLUDED.last_updated),
    reached_seq = GREATEST(s.reached_seq, EXCLUDED.reached_seq)
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def event_record(entry_id: bytes, fields: dict[bytes, bytes]) -> tuple[Any, ...]:
    """A stream entry as a staging row; a malformed one raises KeyError or ValueError
    (and PostgreSQL refuses a bad user id)."""
    return (entry_id.decode(), fields[b"u"].decode(), fields[b"a"].decode(),
            int(fields[b"i"]), int(fields[b"s"]), int(fields[b"t"]))


async def write_events(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    """One transaction: stage by COPY, insert what is new, raise totals by what was new."""
    async with conn.transaction():
        await conn.execute(_STAGE)
        await conn.copy_records_to_table("score_stage", records=records, columns=_STAGE_COLUMNS)
        await conn.execute(_APPLY)


_DIRECT = """
WITH event AS (
    INSERT INTO score_events
        (id, user_id, action_type, score_increment, seq, created_at, idempotency_key)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT DO NOTHING
    RETURNING user_id, score_increment, seq, created_at
)
INSERT INTO scores AS s (user_id, total_score, last_updated, version, reached_seq)
SELECT user_id, score_increment, created_at AT TIME ZONE 'UTC', 1, seq FROM event
ON CONFLICT (user_id) DO UPDATE SET
    total_score = s.total_score + EXCLUDED.total_score,
    version = s.version + 1,
    last_updated = GREATEST(s.last_updated, EXCLUDED.last_updated),
    reached_seq = GREATEST(s.reached_seq, EXCLUDED.reached_seq)
RETURNING total_score
"""


async def commit_direct(pool: asyncpg.Pool, user_id: str, action: str, increment: int,
                        seq: int, at_ms: int, idempotency_key: str | None) -> tuple[int, bool]:
    """Direct mode: the increment and the new total in one statement.

    Returns the committed total and whether this call inserted the event (False:
    the same Idempotency-Key was committed before, and the total is today's).
    """
    uid = uuid.UUID(user_id)
    at = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    total = await pool.fetchval(_DIRECT, f"d-{uuid.uuid4().hex}", uid, action, increment, seq,
                                at, idempotency_key)
    if total is not None:
        return int(total), True
    current = await pool.fetchval("SELECT total_score FROM scores WHERE user_id = $1", uid)
    return int(current or 0), False


class Persister:
    def __init__(self, redis: Any, pool: asyncpg.Pool, *, batch_size: int = 5000,
                 claim_idle_ms: int = 30_000, consumer: str | None = None) -> None:
        self.redis = redis
        self.pool = pool
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms  # a pending entry this old: its consumer is dead
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._group_ready = False
        self._failures = 0
        self._retry_at = 0.0
        self.persisted = 0
        self.dead_lettered = 0

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(store.EVENTS, store.PERSIST_GROUP, id="0",
                                           mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _recovered_batch(self) -> list[tuple[Any, dict[Any, Any]]]:
        """Entries this consumer read but did not persist (a failed write), else a
        dead consumer's, claimed after they idled ``claim_idle_ms``."""
        group, me, n = store.PERSIST_GROUP, self.consumer, self.batch_size
        reply = await self.redis.xreadgroup(group, me, {store.EVENTS: "0"}, count=n)
        entries = [e for e in (reply[0][1] if reply else []) if e[1]]
        if entries:
            return entries
        claimed = await self.redis.xautoclaim(store.EVENTS, group, me,
                                              min_idle_time=self.claim_idle_ms, count=n)
        return [e for e in claimed[1] if e[1]]

    async def _new_batch(self) -> list[tuple[Any, dict[Any, Any]]]:
        group, me, n = store.PERSIST_GROUP, self.consumer, self.batch_size
        reply = await self.redis.xreadgroup(group, me, {store.EVENTS: ">"}, count=n)
        return [e for e in (reply[0][1] if reply else []) if e[1]]

    async def _persist(self, entries: list[tuple[Any, dict[Any, Any]]]) -> int:
        """Write one batch in one transaction, then XACK it. Returns its size."""
        ids = [e[0] for e in entries]
        records, poison = [], []
        for entry_id, fields in entries:
            try:
                records.append(event_record(entry_id, fields))
            except (KeyError, ValueError):
                poison.append((entry_id, fields))
        try:
            async with self.pool.acquire() as conn:
                await write_events(conn, records)
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
            records = await self._write_one_by_one(records, entries, poison)
        for entry_id, fields in poison:
            await self._dead_letter(entry_id, fields)
        await self.redis.xack(store.EVENTS, store.PERSIST_GROUP, *ids)
        self.persisted += len(records)
        metrics.PERSISTED.inc(len(records))
        return len(entries)

    async def flush(self) -> int:
        """Persist until nothing waits; returns the number of events seen.

        Recovered entries go first, one batch at a time. New entries are read
        one batch ahead: the next batch comes from Redis while PostgreSQL
        writes the last one. A batch that is not full means it has caught up,
        so a run ends even while updates keep coming.
        """
        await self._ensure_group()
        total = 0
        while entries := await self._recovered_batch():
            total += await self._persist(entries)
        entries = await self._new_batch()
        while entries:
            writing = asyncio.create_task(self._persist(entries))
            try:
                full = len(entries) >= self.batch_size
                entries = await self._new_batch() if full else []
            finally:
                total += await writing
        await self.trim()
        return total

    async def _write_one_by_one(self, records: list[tuple[Any, ...]],
                                entries: list[tuple[Any, dict[Any, Any]]],
                                poison: list[tuple[Any, dict[Any, Any]]]) -> list[tuple[Any, ...]]:
        by_id = {_text(e[0]): e for e in entries}
        good = []
        async with self.pool.acquire() as conn:
            for rec in records:
                try:
                    await write_events(conn, [rec])
                    good.append(rec)
                except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
                    poison.append(by_id[rec[0]])
        return good

    async def _dead_letter(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        log.error("event %s cannot be persisted; moved to %s", _text(entry_id), store.DEAD)
        await self.redis.xadd(store.DEAD, {**fields, "origin_id": entry_id})
        self.dead_lettered += 1
        metrics.DEAD_LETTERED.inc()

    async def trim(self) -> None:
        """Drop only what every consumer has persisted: below the oldest pending entry."""
        pending, oldest, last, _ = await self._positions()
        if pending:
            minid = oldest
        else:
            ms, seq = last.split("-")
            minid = f"{ms}-{int(seq) + 1}"
        await self.redis.execute_command("XTRIM", store.EVENTS, "MINID", minid)

    async def _positions(self) -> tuple[int, str, str, int | None]:
        """Pending count, oldest pending id, the group's last delivered id, and how many
        entries were never delivered (Redis 7 says; 6.2 does not: None)."""
        summary = await self.redis.xpending(store.EVENTS, store.PERSIST_GROUP)
        groups = await self.redis.xinfo_groups(store.EVENTS)
        group = next(g for g in groups if _text(g["name"]) == store.PERSIST_GROUP)
        oldest = _text(summary["min"]) if summary["pending"] else ""
        lag = group.get("lag")
        return (int(summary["pending"]), oldest, _text(group["last-delivered-id"]),
                None if lag is None else int(lag))

    async def job(self) -> None:
        """The scheduled run: drain, and back off while PostgreSQL or Redis fails."""
        if time.monotonic() < self._retry_at:
            return
        try:
            await self.flush()
            self._failures = 0
        except Exception as exc:
            store.reraise_if_cancelling()
            metrics.BACKEND_ERRORS.labels(metrics.backend_of(exc)).inc()
            self._failures += 1
            delay = min(MAX_BACKOFF_S, 0.2 * 2 ** self._failures)
            self._retry_at = time.monotonic() + delay
            log.warning("persist failed (%s: %s); retry in %.1f s",
                        exc.__class__.__name__, exc, delay)

    async def lag(self) -> tuple[int, float]:
        """Events not yet persisted (pending or undelivered) and the age of the oldest, in s."""
        await self._ensure_group()
        pending, oldest, last, lag = await self._positions()
        if lag is None:  # Redis 6.2 does not count undelivered entries: count them, capped
            lag = len(await self.redis.xrange(store.EVENTS, min=f"({last}", count=LAG_COUNT_CAP))
        if not oldest and lag:
            first = await self.redis.xrange(store.EVENTS, min=f"({last}", count=1)
            oldest = _text(first[0][0]) if first else ""
        if not oldest:
            return 0, 0.0
        ms = int(oldest.split("-")[0])
        return pending + lag, max(0.0, time.time() - ms / 1000)
