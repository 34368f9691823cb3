"""Worker 1: moves accepted increments from the ``{lb}:events`` stream to PostgreSQL.

Exactly once: each event's stream id is the primary key of its ``score_events``
row, and totals rise only by what the INSERT really inserted, in the same
transaction; the XACK comes after the COMMIT. A crash between the two replays
the batch, which then inserts nothing.

Failover (docs/design.md, "What a failover can lose"):
- Redis: with ``replicas`` > 0 each read is followed, on the same connection, by a
  write and a WAIT, and a batch goes to PostgreSQL only once that many replicas
  have it. An event a failover could still take back is never persisted.
- PostgreSQL: persisted events stay in the stream for ``retention_s`` after their
  XACK. When the pool reaches another server than the last one persisted to (a
  promoted standby, a restarted server), the window is written again: the event id
  is the key, so only what the server lacks is inserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from redis.exceptions import ResponseError

from ..obs import metrics
from ..store import keys, stream
from ..store.autopipe import NotReplicated
from ..store.client import RedisClient, as_text
from ..tasks import reraise_if_cancelling
from .pool import IDENTITY, ServerWatch
from .sql import parse_boards, write_lines

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
LAG_COUNT_CAP = 10_000  # on Redis 6.2, /metrics counts undelivered events up to this


def _copy_escape(value: bytes) -> bytes:
    return (value.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
            .replace(b"\r", b"\\r"))


NULL = b"\\N"


def event_line(entry_id: bytes, fields: dict[bytes, bytes]) -> bytes:
    """A stream entry as one row of COPY's text format for the staging table
    (``STAGE_COLUMNS``): the fields as Redis holds them, for PostgreSQL to parse. A
    malformed entry raises KeyError or ValueError (and PostgreSQL refuses a bad user
    id, key id or metadata)."""
    value, seq, at = fields[b"i"], fields[b"s"], fields[b"t"]
    if not (value.isdigit() and seq.isdigit() and at.isdigit()):
        raise ValueError("increment, sequence and time must be whole numbers")
    boards = fields.get(b"b")
    if boards is not None:
        parse_boards(boards.decode())  # a malformed list is poison, found here
    writer, metadata = fields.get(b"w"), fields.get(b"m")
    cols = (entry_id, fields[b"u"], fields[b"a"], value, seq, at,
            NULL if writer is None else writer, NULL if metadata is None else metadata,
            NULL if boards is None else boards)
    line = b"\t".join(cols)
    nulls = (writer is None) + (metadata is None) + (boards is None)
    if (line.count(b"\t") != len(cols) - 1 or line.count(b"\\") != nulls or b"\n" in line
            or b"\r" in line):  # a field holds a tab, a backslash...
        line = b"\t".join(NULL if c is None else _copy_escape(c) for c in
                          (entry_id, fields[b"u"], fields[b"a"], value, seq, at, writer,
                           metadata, boards))
    return line + b"\n"


@contextlib.contextmanager
def gc_paused() -> Any:
    """The cyclic collector off while a batch is read and prepared. A batch of 5000
    entries allocates about 100,000 objects that live until it is written; with the
    collector on, its young-generation passes walk them again and again, which
    bench.persist measured at about a sixth of Worker 1's time. Reference counting
    still frees everything else meanwhile, and the first allocation after the pause
    collects as usual."""
    if not gc.isenabled():  # paused already (or by the application): leave it
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _xrange_from(client: Any, start: str, count: int) -> Any:
    return client.xrange(keys.EVENTS, min=start, count=count)


@dataclass(frozen=True, slots=True)
class Batch:
    entries: list[tuple[Any, dict[Any, Any]]]
    lines: list[bytes]  # the staging rows (event_line)
    poison: list[tuple[Any, dict[Any, Any]]]  # entries that cannot become rows


class Persister:
    def __init__(self, redis: RedisClient, pool: asyncpg.Pool, *, batch_size: int = 5000,
                 claim_idle_ms: int = 30_000, consumer: str | None = None,
                 retention_s: int = 0, replicas: int = 0, wait_ms: int = 1000,
                 watch: ServerWatch | None = None) -> None:
        self.redis = redis
        self.pool = pool
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms  # a pending entry this old: its consumer is dead
        self.retention_ms = retention_s * 1000
        self.replicas = replicas
        self.wait_ms = wait_ms
        self.watch = watch
        self._server_checked: str | None = None  # the server last compared with Redis's note
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._group_ready = False
        self._failures = 0
        self._retry_at = 0.0
        self.dead_lettered = 0

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        await stream.ensure_group(self.redis, keys.PERSIST_GROUP)
        self._group_ready = True

    async def _recovered_batch(self) -> list[tuple[Any, dict[Any, Any]]]:
        """Entries this consumer read but did not persist (a failed write), else a
        dead consumer's, claimed after they idled ``claim_idle_ms``."""
        group, me, n = keys.PERSIST_GROUP, self.consumer, self.batch_size
        reply: Any = await self._read(lambda r: r.xreadgroup(group, me, {keys.EVENTS: "0"},
                                                             count=n))
        entries = [e for e in (reply[0][1] if reply else []) if e[1]]
        if entries:
            return entries
        claimed: Any = await self._read(lambda r: r.xautoclaim(
            keys.EVENTS, group, me, min_idle_time=self.claim_idle_ms, count=n))
        return [e for e in claimed[1] if e[1]]

    async def _new_batch(self) -> list[tuple[Any, dict[Any, Any]]]:
        group, me, n = keys.PERSIST_GROUP, self.consumer, self.batch_size
        reply: Any = await self._read(lambda r: r.xreadgroup(group, me, {keys.EVENTS: ">"},
                                                             count=n))
        return [e for e in (reply[0][1] if reply else []) if e[1]]

    async def _read(self, command: Any) -> Any:
        """``command(client)``; with replicas, on one connection with a write and a WAIT
        after it, so what it returned is on that many replicas (the write moves this
        connection's replication offset past every entry it read)."""
        with gc_paused():
            if not self.replicas:
                return await command(self.redis)
            async with self.redis.pipeline(transaction=False) as pipe:
                command(pipe)
                pipe.set(keys.PERSIST_FENCE, self.consumer)
                pipe.execute_command("WAIT", self.replicas, self.wait_ms)
                reply, _, acked = await pipe.execute()
        if int(acked) < self.replicas:
            raise NotReplicated(f"{acked} of {self.replicas} replicas have the stream")
        return reply

    def _prepare(self, entries: list[tuple[Any, dict[Any, Any]]]) -> Batch:
        """A batch as staging rows: Python's share of the work (PostgreSQL parses the
        rows and folds the events), done while PostgreSQL writes the batch before."""
        lines, poison = [], []
        with gc_paused():
            for entry_id, fields in entries:
                try:
                    lines.append(event_line(entry_id, fields))
                except (KeyError, ValueError):
                    poison.append((entry_id, fields))
        return Batch(entries, lines, poison)

    async def _commit(self, batch: Batch) -> int:
        """Write one batch in one transaction, then XACK it. Returns its size."""
        entries, lines, poison = batch.entries, batch.lines, batch.poison
        try:
            async with self.pool.acquire() as conn:
                await write_lines(conn, lines)
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
            lines, _ = await self._write_one_by_one(batch)
        for entry_id, fields in poison:
            await self._dead_letter(entry_id, fields)
        await self.redis.xack(keys.EVENTS, keys.PERSIST_GROUP, *(e[0] for e in entries))
        metrics.PERSISTED.inc(len(lines))
        return len(entries)

    async def flush(self) -> int:
        """Persist until nothing waits; returns the number of events seen.

        Recovered entries go first, one batch at a time. New entries flow through
        three stages at once: while PostgreSQL writes batch k (one transaction at a
        time, in order, its XACK after its COMMIT), batch k+1 is read from Redis and
        prepared in Python. A batch that is not full means it has caught up, so a
        run ends even while updates keep coming.
        """
        await self._ensure_group()
        await self._repair_if_moved()
        total = 0
        while entries := await self._recovered_batch():
            total += await self._commit(self._prepare(entries))
        entries = await self._new_batch()
        writing: asyncio.Task[int] | None = None
        try:
            while entries:
                batch = self._prepare(entries)
                full = len(entries) >= self.batch_size
                if writing is not None:
                    total += await writing
                writing = asyncio.create_task(self._commit(batch))
                entries = await self._new_batch() if full else []
        finally:
            if writing is not None:
                total += await writing
        await self._repair_if_moved()  # a server reached only by this run's writes
        await self.trim()
        return total

    async def _write_one_by_one(self, batch: Batch) -> tuple[list[bytes], int]:
        """The rows written, and how many of them were new; a row PostgreSQL refuses
        joins the batch's poison."""
        good, fresh = [], 0
        made = {e[0]: e for e in batch.entries}
        async with self.pool.acquire() as conn:
            for line in batch.lines:
                try:
                    fresh += await write_lines(conn, [line])
                    good.append(line)
                except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
                    batch.poison.append(made[line.split(b"\t", 1)[0]])
        return good, fresh

    async def _dead_letter(self, entry_id: Any, fields: dict[Any, Any]) -> None:
        log.error("event %s cannot be persisted; moved to %s", as_text(entry_id), keys.DEAD)
        await self.redis.xadd(keys.DEAD, {**fields, "origin_id": entry_id})
        self.dead_lettered += 1
        metrics.DEAD_LETTERED.inc()

    async def trim(self) -> None:
        """Drop only what every consumer has persisted (below the oldest pending entry),
        and of that only what is older than the retention window."""
        pending, oldest, last, _ = await self._positions()
        if pending:
            minid = oldest
        else:
            ms, seq = last.split("-")
            minid = f"{ms}-{int(seq) + 1}"
        if self.retention_ms:
            kept = int(time.time() * 1000) - self.retention_ms
            if kept < int(minid.split("-")[0]):
                minid = f"{kept}-0"
        await self.redis.execute_command("XTRIM", keys.EVENTS, "MINID", minid)

    async def replay(self) -> int:
        """Write every event still in the stream again (the retention window, and what
        is not persisted yet); returns how many PostgreSQL did not have. Events that
        cannot be written (their player is gone) are skipped and logged."""
        start, missing = "-", 0
        while True:
            entries: Any = await self._read(
                functools.partial(_xrange_from, start=start, count=self.batch_size))
            batch = self._prepare(entries)
            if batch.lines:
                try:
                    async with self.pool.acquire() as conn:
                        missing += await write_lines(conn, batch.lines)
                except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
                    _, fresh = await self._write_one_by_one(batch)
                    missing += fresh
            for entry_id, _ in batch.poison:
                log.error("replay: event %s cannot be written; skipped", as_text(entry_id))
            if len(entries) < self.batch_size:
                return missing
            start = "(" + as_text(entries[-1][0])

    async def replayed_here(self) -> bool:
        """Is the server the pool reaches now the one the stream was last persisted to
        (``PG_SERVER``), so that nothing the stream holds is missing there?"""
        noted = await stream.noted_server(self.redis)
        return noted is None or noted == str(await self.pool.fetchval(IDENTITY))

    async def _repair_if_moved(self) -> None:
        """Replay the window once after the pool reached a server the stream was not
        persisted to before (every process notices; the first one repairs)."""
        server = self.watch.current if self.watch is not None else None
        if server is None or server == self._server_checked:
            return
        noted = await stream.noted_server(self.redis)
        if noted is not None and noted != server:
            started = time.monotonic()
            missing = await self.replay()
            metrics.REPLAYED.inc(missing)
            log.warning("PostgreSQL server changed (%s, was %s): replayed the stream's last "
                        "%d s in %.1f s; %d events were missing", server, noted,
                        self.retention_ms // 1000, time.monotonic() - started, missing)
        if noted != server:
            await self.redis.set(keys.PG_SERVER, server)
        self._server_checked = server

    async def _positions(self) -> tuple[int, str, str, int | None]:
        """Pending count, oldest pending id, the group's last delivered id, and how many
        entries were never delivered (Redis 7 says; 6.2 does not: None)."""
        summary = await self.redis.xpending(keys.EVENTS, keys.PERSIST_GROUP)
        groups = await self.redis.xinfo_groups(keys.EVENTS)
        group = next(g for g in groups if as_text(g["name"]) == keys.PERSIST_GROUP)
        oldest = as_text(summary["min"]) if summary["pending"] else ""
        lag = group.get("lag")
        return (int(summary["pending"]), oldest, as_text(group["last-delivered-id"]),
                None if lag is None else int(lag))

    async def job(self) -> None:
        """The scheduled run: drain, and back off while PostgreSQL or Redis fails."""
        if time.monotonic() < self._retry_at:
            return
        try:
            await self.flush()
            self._failures = 0
        except Exception as exc:
            reraise_if_cancelling()
            if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                # a Redis without the group (a promoted replica that never had it, a wiped
                # one): made again from the stream's start next run; what PostgreSQL has
                # already is inserted nothing twice
                self._group_ready = False
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
            undelivered: Any = await self.redis.xrange(keys.EVENTS, min=f"({last}",
                                                       count=LAG_COUNT_CAP)
            lag = len(undelivered)
        if not oldest and lag:
            first = await self.redis.xrange(keys.EVENTS, min=f"({last}", count=1)
            oldest = as_text(first[0][0]) if first else ""
        if not oldest:
            return 0, 0.0
        ms = int(oldest.split("-")[0])
        return pending + lag, max(0.0, time.time() - ms / 1000)
