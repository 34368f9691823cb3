"""What the rest of the service asks Redis about the event stream, the board
definitions and the server the stream was persisted to, decoded here: callers get
``str`` ids and names, never the client's bytes.

Worker 1 is the exception, on purpose: it hands the stream's bytes to PostgreSQL's
COPY untouched and reads its own group's positions on the same terms
(persist/worker.py); only the server it persisted to comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from . import keys
from .client import RedisClient, as_text


@dataclass(frozen=True, slots=True)
class GroupState:
    """Where the persist group stands on the stream."""

    pending: int  # delivered, not yet acknowledged
    oldest_pending: str  # "" when nothing is pending
    last_delivered: str
    undelivered: int | None  # never delivered (Redis 7 counts them; 6.2 does not: None)


async def group_state(redis: RedisClient) -> GroupState | None:
    """The persist group's position; None when the group does not exist (yet). Read in
    one MULTI: the pending entries and the last delivered one at the same instant."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xinfo_groups(keys.EVENTS)
        pipe.xpending(keys.EVENTS, keys.PERSIST_GROUP)
        try:
            groups, summary = await pipe.execute()
        except ResponseError:  # no stream or no group yet
            return None
    group = next((g for g in groups if as_text(g["name"]) == keys.PERSIST_GROUP), None)
    if group is None:
        return None
    lag = group.get("lag")
    return GroupState(int(summary["pending"]),
                      as_text(summary["min"]) if summary["pending"] else "",
                      as_text(group["last-delivered-id"]),
                      None if lag is None else int(lag))


async def ensure_group(redis: RedisClient, group: str) -> None:
    """Consumer group ``group`` on the events stream, from its start, made if missing
    (the stream too)."""
    try:
        await redis.xgroup_create(keys.EVENTS, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def first_after(redis: RedisClient, entry_id: str) -> str | None:
    """The id of the stream's first entry after ``entry_id``, if any."""
    first: Any = await redis.xrange(keys.EVENTS, min=f"({entry_id}", count=1)
    return last_id(first)


def last_id(entries: Any) -> str | None:
    """The id of an XRANGE/XREVRANGE reply's first entry (None: empty)."""
    return as_text(entries[0][0]) if entries else None


async def definitions(redis: RedisClient) -> tuple[int, dict[str, bytes]]:
    """The board definitions' version and each definition (id -> its JSON), read in one
    MULTI."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(keys.BOARDS_VERSION)
        pipe.hgetall(keys.BOARDS)
        version, raw = await pipe.execute()
    return int(version or 0), {as_text(k): bytes(v) for k, v in raw.items()}


async def noted_server(redis: RedisClient) -> str | None:
    """The PostgreSQL server Worker 1 last persisted the stream to (``PG_SERVER``)."""
    noted = await redis.get(keys.PG_SERVER)
    return None if noted is None else as_text(noted)
