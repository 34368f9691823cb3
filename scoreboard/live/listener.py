"""One Pub/Sub subscription per process, kept alive across Redis outages.

Every message is decoded once and handed to ``on_event``. After any
interruption of the subscription ``on_resubscribed`` runs, since messages
published during the gap are gone: whether this loop reconnects, or redis-py
repairs the connection inside its own retry (a connect callback on the
subscription's connection sees that).

Behind Sentinel a demoted master keeps its subscribers, and what the new master
publishes reaches them only once it replicates again: so every second the
listener asks where the master is, and moves its subscription when it has moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ..store import keys
from ..store.client import RedisClient
from ..store.events import Event, decode
from ..tasks import reraise_if_cancelling

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 2.0
POLL_S = 1.0


class Listener:
    def __init__(self, redis: RedisClient, on_event: Callable[[Event], None],
                 on_resubscribed: Callable[[], None],
                 locate: Callable[[], Awaitable[tuple[str, int]]] | None = None) -> None:
        self.redis = redis
        self.locate = locate  # the master's address now (Sentinel), to follow a failover
        self.on_event = on_event
        self.on_resubscribed = on_resubscribed
        self.subscribed = asyncio.Event()  # set while the subscription is live
        self.repaired = 0  # gaps after which a fresh snapshot was sent
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="pubsub-listener")

    async def stop(self) -> None:
        # A flag as well as cancel(): a library may swallow a cancellation mid-call,
        # and the loop must end all the same.
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 5)

    def _reconnected(self, connection: object) -> None:
        log.info("pubsub connection repaired; sending a fresh snapshot")
        self.repaired += 1
        self.on_resubscribed()

    async def _check_master(self, pubsub: PubSub) -> None:
        """Raise if the subscription is on a server that is no longer the master."""
        conn = pubsub.connection
        if self.locate is None or conn is None:
            return
        try:
            where = await self.locate()
        except RedisError:  # no master known right now: stay until one is
            return
        if (str(conn.host), int(conn.port)) != where:
            raise RedisConnectionError(f"the master moved to {where[0]}:{where[1]}")

    async def _listen(self) -> None:
        delay = 0.05
        first = True
        while not self._closing:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(keys.CHANNEL)
                if pubsub.connection is not None:  # set by subscribe()
                    # every later connect of this connection is a repaired gap
                    pubsub.connection.register_connect_callback(self._reconnected)
                self.subscribed.set()
                delay = 0.05
                if not first:
                    log.info("pubsub resubscribed; sending a fresh snapshot")
                    self.repaired += 1
                    self.on_resubscribed()
                first = False
                checked = time.monotonic()
                while not self._closing:
                    if time.monotonic() - checked >= POLL_S:
                        checked = time.monotonic()
                        await self._check_master(pubsub)
                    msg = await pubsub.get_message(timeout=POLL_S)
                    if msg is not None and msg["type"] == "message":
                        event = decode(msg["data"])
                        if event is not None:
                            self.on_event(event)
            except (RedisError, OSError) as exc:
                reraise_if_cancelling()
                self.subscribed.clear()
                log.warning("pubsub lost (%s); reconnecting", exc.__class__.__name__)
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_S, delay * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
