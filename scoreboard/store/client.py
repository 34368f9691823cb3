"""Redis clients: one retry policy per use, and the helpers every caller needs."""

from __future__ import annotations

import asyncio
from typing import Any, TypeAlias

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

RedisClient: TypeAlias = Redis | RedisCluster


def connect(url: str, *, cluster: bool, timeout: float, retries: int) -> RedisClient:
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


def as_text(value: Any) -> str:
    """A reply element as text: the runners return bytes, fakes and tests may give str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def reraise_if_cancelling() -> None:
    """redis-py may turn a cancellation into a connection error; a loop that retries on
    errors must still stop when its task is being cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
