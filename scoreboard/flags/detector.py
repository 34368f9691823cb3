"""The detectors' pass: ``detect.lua`` over the next events of their own consumer group,
then the flags it queued moved to PostgreSQL.

Every process runs passes (``DETECT_INTERVAL_S``); the consumer group shares the events
among them, and each step of the script reads, folds and acknowledges its events
atomically, so none is folded twice or lost by a process that dies. Scoring and
persistence never wait for a pass: a pass that falls behind only delays flags (the
stream keeps events for Worker 1's sake; one the detectors never read before it is
trimmed is skipped, and counted).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from redis.exceptions import RedisError, ResponseError

from ..obs import metrics
from ..settings import Config
from ..store import keys, scripts, stream
from ..store.client import RedisClient, as_text

log = logging.getLogger(__name__)

STEP = 100  # events per script call: Redis is busy with one step at a time
MAX_STEPS = 200  # per pass: a pass that is far behind lets others run
DRAIN = 100  # flags moved per statement
IDLE_S = 7 * 24 * 3600  # a player's sketches expire after this long without an event
DRAIN_LOCK_MS = 10_000
RATE_EVERY_MS = 1000  # a board's gains are judged at most once a second


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What the detectors flag (settings: DESIGN "Anomaly flags")."""

    cadence_min: int
    cadence_cv: float
    cap_min: int
    cap_share: float
    rate_window_s: float
    rate_z: float
    rate_min: int
    rate_every_ms: int
    jump_factor: float
    jump_min: int

    @classmethod
    def of(cls, config: Config) -> Thresholds:
        return cls(config.flag_cadence_min, config.flag_cadence_cv, config.flag_at_cap_min,
                   config.flag_at_cap_share, config.flag_rate_window_s, config.flag_rate_z,
                   config.flag_rate_min_players,
                   RATE_EVERY_MS,
                   config.flag_jump_factor, config.flag_jump_min)


class Detector:
    def __init__(self, redis: RedisClient, pool: asyncpg.Pool, config: Config,
                 on_flag: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None,
                 *, consumer: str | None = None) -> None:
        self.redis = redis
        self.pool = pool
        self.on_flag = on_flag
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        t = Thresholds.of(config)
        caps = orjson.dumps({a.name: a.max_increment for a in config.actions.values()}).decode()
        self._args = scripts.DetectArgs(
            group=keys.DETECT_GROUP, consumer=self.consumer, batch=STEP, caps=caps,
            idle_s=IDLE_S, alpha=2 / (t.cadence_min + 1), cadence_min=t.cadence_min,
            cadence_cv=t.cadence_cv, cap_min=t.cap_min, cap_share=t.cap_share,
            tau_s=t.rate_window_s, rate_z=t.rate_z, rate_min=t.rate_min,
            rate_every_ms=t.rate_every_ms, jump_factor=t.jump_factor, jump_min=t.jump_min)
        self._keys = scripts.DetectKeys(events=keys.EVENTS, queue=keys.FLAG_QUEUE,
                                        judge=keys.RATE_JUDGE)
        self._detect = scripts.load("detect", redis)
        self._group_ready = False

    async def ensure_group(self) -> None:
        """The detectors' group, from the stream's start the first time."""
        await stream.ensure_group(self.redis, keys.DETECT_GROUP)
        self._group_ready = True

    async def step(self) -> tuple[int, int]:
        """One script call: (events read, flags queued)."""
        if not self._group_ready:
            await self.ensure_group()
        try:
            read, queued = await self._detect(keys=self._keys, args=self._args)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self._group_ready = False  # a wiped Redis: the group again, next step
            return 0, 0
        metrics.DETECTED.inc(int(read))
        return int(read), int(queued)

    async def run_pass(self) -> int:
        """Steps until caught up (or MAX_STEPS), then the queued flags to PostgreSQL.
        Returns the events read."""
        total = 0
        for _ in range(MAX_STEPS):
            read, _ = await self.step()
            total += read
            if read < STEP:
                break
        await self.drain()
        return total

    async def job(self) -> None:
        try:
            await self.run_pass()
        except (RedisError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("anomaly detection pass failed: %s", exc.__class__.__name__)

    async def drain(self) -> int:
        """Move the queued flags to PostgreSQL, one process at a time; each written once
        (its key), then removed from the queue. Returns the new flags."""
        owner = uuid.uuid4().hex
        if not await self.redis.set(keys.FLAG_DRAIN_LOCK, owner, nx=True, px=DRAIN_LOCK_MS):
            return 0
        fresh = 0
        try:
            while True:
                raw = await self.redis.lrange(keys.FLAG_QUEUE, 0, DRAIN - 1)
                if not raw:
                    break
                for row in await write_flags(self.pool, [orjson.loads(r) for r in raw]):
                    fresh += 1
                    metrics.FLAGS.labels(row["detector"]).inc()
                    if self.on_flag is not None:
                        done = self.on_flag(row)
                        if done is not None:
                            await done
                await self.redis.ltrim(keys.FLAG_QUEUE, len(raw), -1)
        finally:
            if as_text(await self.redis.get(keys.FLAG_DRAIN_LOCK) or b"") == owner:
                await self.redis.delete(keys.FLAG_DRAIN_LOCK)
        return fresh


_INSERT = """
WITH fresh AS (
    INSERT INTO flags (id, key, user_id, board, detector, value, threshold, evidence)
    SELECT gen_random_uuid(), f.key, f.user_id, f.board, f.detector, f.value, f.threshold,
           f.evidence
    FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::float8[],
                $6::float8[], $7::jsonb[], $8::bigint[])
        AS f(key, user_id, board, detector, value, threshold, evidence, at)
    JOIN users u ON u.id = f.user_id
    ON CONFLICT DO NOTHING
    RETURNING *
)
SELECT fresh.*, u.username FROM fresh JOIN users u ON u.id = fresh.user_id"""


async def write_flags(pool: asyncpg.Pool, raised: list[dict[str, Any]]) -> list[Any]:
    """Insert the flags the detectors raised; returns the rows that were new."""
    def key(f: dict[str, Any]) -> str:
        return f"{f['detector']}:{f['board']}:{f['user_id']}:{f['at']}"

    return list(await pool.fetch(
        _INSERT, [key(f) for f in raised], [uuid.UUID(f["user_id"]) for f in raised],
        [f["board"] for f in raised], [f["detector"] for f in raised],
        [float(f["value"]) for f in raised], [float(f["threshold"]) for f in raised],
        [orjson.dumps(f["evidence"]).decode() for f in raised],
        [int(f["at"]) for f in raised]))
