"""Redis clients: one retry policy per use, and the helpers every caller needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

RedisClient: TypeAlias = Redis | RedisCluster
T = TypeVar("T")
# What means "Redis is not there" (down, hung, failing over), as opposed to a bug.
OUTAGE = (RedisConnectionError, RedisTimeoutError)


class DeadlineRetry(Retry):
    """redis-py's retry, but never past ``budget_s`` for one command: a hung server
    (each attempt waiting the whole socket timeout) gets one attempt, a refused
    connection gets its quick retries."""

    def __init__(self, retries: int, budget_s: float) -> None:
        super().__init__(ExponentialBackoff(cap=0.5, base=0.02), retries)
        self.budget_s = budget_s

    async def call_with_retry(self, do: Callable[[], Awaitable[T]], fail: Any,
                              is_retryable: Callable[[Exception], bool] | None = None,
                              with_failure_count: bool = False) -> T:
        deadline = time.monotonic() + self.budget_s

        def retryable(error: Exception) -> bool:
            if time.monotonic() >= deadline:
                return False
            return is_retryable(error) if is_retryable is not None else True

        return await super().call_with_retry(do, fail, retryable, with_failure_count)


def connect(url: str, *, cluster: bool, timeout: float, retries: int) -> RedisClient:
    """A client with an explicit retry policy; a retried command gives up once
    ``timeout`` has passed, so no caller waits much longer than that.

    Score scripts go through a client with ``retries=0``: a script retried after
    a dropped reply could count twice; the caller answers 503 instead and the
    player's Idempotency-Key settles it.
    """
    retry = DeadlineRetry(retries, timeout) if retries else Retry(NoBackoff(), 0)
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
