"""Following the Redis master's replicas (REDIS_WAIT_REPLICAS=connected, the default
behind Sentinel).

The hot path's runner decides how many replicas a write waits for from what its own
connection's server and the Sentinels say (store/autopipe.py: one, when the master
has or has ever had a replica, or the Sentinels list a live one; none otherwise, as
for a replica promoted after its master was lost for good). ``ReplicaWatch`` asks
again once a second, gives Worker 1 the same count, and reports the replicas in sync
as a metric, a field of ``/readyz`` and, when the number changes, a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from redis.exceptions import RedisError

from ..tasks import background, reraise_if_cancelling
from .autopipe import AutoPipeline

log = logging.getLogger(__name__)

INTERVAL_S = 1.0


class Waits(Protocol):
    replicas: int


class ReplicaWatch:
    def __init__(self, pipe: AutoPipeline, others: list[Waits],
                 report: Callable[[int], None] = lambda connected: None) -> None:
        self.pipe = pipe
        self.others = others
        self.report = report  # the metric
        self._logged: int | None = None

    @property
    def connected(self) -> int:
        """Replicas in sync with the master, as its last answer said (at the runner's
        connect, or the last look)."""
        return self.pipe.online

    async def look(self) -> int:
        connected = await self.pipe.look()
        if connected != self._logged:
            log.log(logging.WARNING if connected == 0 else logging.INFO,
                    "redis replicas in sync with the master: %d; updates wait for %d",
                    connected, self.pipe.replicas)
        self._logged = connected
        for other in self.others:
            other.replicas = self.pipe.replicas
        self.report(connected)
        return connected

    async def run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            try:
                await self.look()
            except RedisError as exc:  # no master at the moment: the next look follows
                reraise_if_cancelling()
                log.debug("replica look failed: %s", exc.__class__.__name__)

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        with contextlib.suppress(RedisError):
            await self.look()
        async with background(self.run(), "replica-watch"):
            yield self
