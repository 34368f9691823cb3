"""Redis: key names, clients and the Lua scripts (loaded once)."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Keys one script touches share the {lb} hash tag, so they live in one cluster slot.
SCORES = "{lb}:scores"  # sorted set: tie-encoded member -> total
MEMBER = "{lb}:member"  # hash: user id -> its current member in SCORES
HIDDEN = "{lb}:hidden"  # sorted set: banned players' members, kept for unban
SEQ = "{lb}:seq"  # counter: board-wide order in which totals were reached
BOARDSEQ = "{lb}:boardseq"  # counter: grows with every change of the top 10
EVENTS = "{lb}:events"  # stream: accepted increments on their way to PostgreSQL
DEAD = "{lb}:events:dead"  # stream: events that failed to persist again and again
PROFILES = "{lb}:profiles"  # hash: user id -> {"username", "avatar_url"} JSON
BANNED = "{lb}:banned"  # set: banned user ids
TOP10 = "leaderboard:top10"  # the seed's cache key: JSON array of the top 10
TOP10_LOCK = "leaderboard:top10:lock"
CHANNEL = "leaderboard_updates"  # the seed's Pub/Sub channel
PERSIST_GROUP = "persist"
MAX_TOTAL = 2**53 - 1
TOP_N = 10


def revoked_key(jti: str) -> str:
    return f"{{lb}}:revoked:{jti}"


def rate_key(user_id: str, action: str) -> str:
    return f"{{lb}}:rl:{user_id}:{action}"


def idem_key(user_id: str, key: str | None) -> str:
    return f"{{lb}}:idem:{user_id}:{key or '-'}"


TIE_BASE = 999_999_999_999_999  # as in lua/common.lua


def member_for(seq: int, user_id: str) -> str:
    """The sorted-set member of a total reached at board sequence ``seq``."""
    return f"{TIE_BASE - seq:015d}:{user_id}"


def parse_member(member: bytes | str) -> str:
    """The user id inside a tie-encoded member ``<inverted seq>:<user id>``."""
    text = member.decode() if isinstance(member, bytes) else member
    return text.split(":", 1)[1]


def reraise_if_cancelling() -> None:
    """redis-py may turn a cancellation into a connection error; a loop that retries on
    errors must still stop when its task is being cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


LUA_DIR = Path(__file__).parent / "lua"


@cache
def lua_common() -> str:
    return (LUA_DIR / "common.lua").read_text() + "\n"


@cache
def lua_source(name: str) -> str:
    """A script's text: the shared helpers followed by its own body."""
    return lua_common() + (LUA_DIR / f"{name}.lua").read_text()


def connect(url: str, *, cluster: bool, timeout: float, retries: int) -> Any:
    """A client with an explicit retry policy.

    Score scripts go through a client with ``retries=0``: a script retried after
    a dropped reply could count twice; the caller answers 503 instead and the
    player's Idempotency-Key settles it.
    """
    retry = (
        Retry(ExponentialBackoff(cap=0.5, base=0.02), retries)
        if retries
        else Retry(NoBackoff(), 0)
    )
    kwargs: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": min(timeout, 1.0),
        "retry": retry,
        "retry_on_error": [RedisConnectionError, RedisTimeoutError] if retries else [],
    }
    if cluster:
        return RedisCluster.from_url(url, **kwargs)
    return Redis.from_url(url, health_check_interval=10, **kwargs)
