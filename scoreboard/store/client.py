"""Redis clients: one retry policy per use, and the helpers every caller needs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .autopipe import AutoPipeline, can_pipeline

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


def _policy(timeout: float, retries: int) -> dict[str, Any]:
    retry = DeadlineRetry(retries, timeout) if retries else Retry(NoBackoff(), 0)
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": min(timeout, 1.0),
        "retry": retry,
        "retry_on_error": [RedisConnectionError, RedisTimeoutError] if retries else [],
    }


def connect(url: str, *, cluster: bool, timeout: float, retries: int,
            password: str | None = None) -> RedisClient:
    """A client with an explicit retry policy; a retried command gives up once
    ``timeout`` has passed, so no caller waits much longer than that.

    Score scripts go through a client with ``retries=0``: a script retried after
    a dropped reply could count twice; the caller answers 503 instead and the
    player's Idempotency-Key settles it.
    """
    kwargs = _policy(timeout, retries)
    if password and not parse_url(url).get("password"):
        kwargs["password"] = password
    if cluster:
        return RedisCluster.from_url(url, **kwargs)
    return Redis.from_url(url, health_check_interval=10, **kwargs)


class Sentinels:
    """The master of one Sentinel-monitored group, found through redis-py's Sentinel
    support: every client it makes asks the Sentinels for the master when it
    connects, and drops a connection whose server was demoted (READONLY)."""

    def __init__(self, sentinels: Sequence[tuple[str, int]], master: str, *,
                 password: str | None, timeout: float) -> None:
        self.master = master
        self.password = password
        self.timeout = timeout
        self.sentinel = Sentinel(list(sentinels), sentinel_kwargs={
            "socket_timeout": min(timeout, 1.0), "socket_connect_timeout": min(timeout, 1.0)})

    def client(self, *, retries: int) -> Redis:
        kwargs = _policy(self.timeout, retries)
        if self.password:
            kwargs["password"] = self.password
        client: Redis = self.sentinel.master_for(self.master, redis_class=Redis,
                                                 health_check_interval=10, **kwargs)
        return client

    async def replicas(self) -> int:
        """Replicas of the master that a Sentinel lists and does not think down. In a
        switch the old master is listed as the new one's replica while Sentinel
        reconfigures it, before it attaches."""
        return len(await self.sentinel.discover_slaves(self.master))

    async def address(self) -> tuple[str, int]:
        """The master's address as the Sentinels see it now; MasterNotFoundError (a
        connection error) while none is known."""
        host, port = await self.sentinel.discover_master(self.master)
        return str(host), int(port)

    async def aclose(self) -> None:
        await self.sentinel.aclose()


@dataclass
class Clients:
    """Every Redis client a process holds, made one way for one deployment."""

    redis: RedisClient  # retries transient errors: reads, jobs, Pub/Sub
    once: RedisClient  # no retries: score scripts
    pipe: AutoPipeline | None  # the hot path's script runner, when usable
    sentinels: Sentinels | None = None

    async def aclose(self) -> None:
        if self.pipe is not None:
            await self.pipe.aclose()
        await self.once.aclose()
        await self.redis.aclose()
        if self.sentinels is not None:
            await self.sentinels.aclose()


def open_clients(*, url: str, cluster: bool = False,
                 sentinels: Sequence[tuple[str, int]] = (), master: str | None = None,
                 password: str | None = None, timeout: float, replicas: int = 0,
                 follow: bool = False) -> Clients:
    """The clients for a plain Redis or Cluster at ``url``, or for the master that
    ``sentinels`` name (then ``url`` is not used)."""
    if sentinels:
        group = Sentinels(sentinels, master or "", password=password, timeout=timeout)
        return Clients(group.client(retries=3), group.client(retries=0),
                       AutoPipeline(timeout=timeout, locate=group.address, password=password,
                                    replicas=replicas, follow=follow, listed=group.replicas),
                       group)
    pipe = (AutoPipeline(url, timeout=timeout, password=password, replicas=replicas,
                         follow=follow)
            if can_pipeline(url, cluster) else None)
    return Clients(connect(url, cluster=cluster, timeout=timeout, retries=3, password=password),
                   connect(url, cluster=cluster, timeout=timeout, retries=0, password=password),
                   pipe)


def as_text(value: Any) -> str:
    """A reply element as text: the runners return bytes, fakes and tests may give str."""
    return value.decode() if isinstance(value, bytes) else str(value)


