"""FLAG_WEBHOOK_URL: each new flag POSTed as JSON, retried with backoff, from a bounded
queue that never blocks detection (a full queue drops the flag's delivery, counted;
the flag itself is in PostgreSQL either way)."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import aiohttp
import orjson

from ..obs import metrics

log = logging.getLogger(__name__)

QUEUE_MAX = 1000
TRIES = 8
FIRST_WAIT_S = 0.5
MAX_WAIT_S = 30.0
TIMEOUT_S = 5.0


class Webhook:
    def __init__(self, url: str, *, first_wait_s: float = FIRST_WAIT_S) -> None:
        self.url = url
        self.first_wait_s = first_wait_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_MAX)

    def offer(self, flag: dict[str, Any]) -> None:
        """Queue a flag for delivery; never waits."""
        try:
            self.queue.put_nowait(flag)
        except asyncio.QueueFull:
            metrics.WEBHOOK.labels("dropped").inc()
            log.warning("flag webhook queue full: a delivery dropped")

    async def run(self) -> None:
        """Deliver queued flags one at a time, until cancelled."""
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                flag = await self.queue.get()
                await self._deliver(session, flag)

    async def _deliver(self, session: aiohttp.ClientSession, flag: dict[str, Any]) -> None:
        body = orjson.dumps(flag)
        wait = self.first_wait_s
        for attempt in range(TRIES):
            try:
                async with session.post(self.url, data=body,
                                        headers={"Content-Type": "application/json"}) as resp:
                    await resp.read()
                    if resp.status < 300:
                        metrics.WEBHOOK.labels("sent").inc()
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if attempt + 1 < TRIES:
                metrics.WEBHOOK.labels("retried").inc()
                # exponential backoff with full jitter
                await asyncio.sleep(random.uniform(0, min(MAX_WAIT_S, wait)))
                wait *= 2
        metrics.WEBHOOK.labels("dropped").inc()
        log.warning("flag webhook: a delivery failed %d times, dropped", TRIES)
