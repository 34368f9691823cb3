"""The WebSocket hub: one Pub/Sub subscription per process, fanned out to its sockets.

Each message is serialized and framed once, then written to every socket's
transport without awaiting: a write either leaves at once or waits in that
socket's own buffer. The buffer is the socket's bounded queue: a client whose
unsent bytes pass ``WS_SEND_BUFFER_KB`` has stopped reading and is dropped
(close 1013, then cut off), so a slow client never slows the others.

Changes are coalesced: the first change after a quiet window goes out at once,
later ones wait for the window (``WS_COALESCE_MS``) to end, so a socket gets at
most one message per window and an isolated change has no added delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from . import metrics, store
from .config import Config
from .envelope import now_ms
from .leaderboard import Reader, Top10Memo, store_top10, top10_data

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 2.0
CLOSE_TIMEOUT_S = 2.0


def text_frame(payload: bytes) -> bytes:
    """An unmasked, uncompressed WebSocket text frame (server to client)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x81, n))
    elif n < 1 << 16:
        header = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return header + payload


@dataclass(eq=False)
class Client:
    ws: web.WebSocketResponse
    user_id: str
    jti: str
    transport: asyncio.Transport | None


class Hub:
    def __init__(self, config: Config, redis: Any, reader: Reader, memo: Top10Memo) -> None:
        self.config = config
        self.redis = redis
        self.reader = reader
        self.memo = memo
        self.clients: set[Client] = set()
        self.seq = 0
        self.sent = 0
        self.dropped = 0
        self.broadcast_seq = 0  # the board seq of the last broadcast
        self.subscribed = asyncio.Event()  # set while the Pub/Sub subscription is live
        self._changes: list[dict[str, Any]] = []
        self._dirty = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._busy = False

    # lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="hub-listener")
        self._flusher = asyncio.create_task(self._flush_loop(), name="hub-flusher")

    async def stop(self) -> None:
        # A flag as well as cancel(): a library may swallow a cancellation mid-call,
        # and the loops must end all the same.
        self._closing = True
        self._dirty.set()
        for task in (self._listener, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, 5)
        await self.close_all()

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        await asyncio.gather(*(self._close(c, code, b"server shutdown") for c in set(self.clients)),
                             return_exceptions=True)

    # sockets ---------------------------------------------------------------
    def count_for(self, user_id: str) -> int:
        return sum(1 for c in self.clients if c.user_id == user_id)

    def add(self, ws: web.WebSocketResponse, user_id: str, jti: str,
            transport: asyncio.Transport | None) -> Client:
        client = Client(ws, user_id, jti, transport)
        self.clients.add(client)
        metrics.WS_CLIENTS.set(len(self.clients))
        return client

    def remove(self, client: Client) -> None:
        self.clients.discard(client)
        metrics.WS_CLIENTS.set(len(self.clients))

    async def _close(self, client: Client, code: int, reason: bytes) -> None:
        self.remove(client)
        try:
            await asyncio.wait_for(client.ws.close(code=code, message=reason), CLOSE_TIMEOUT_S)
        except Exception:
            # a client that reads nothing cannot even take the close frame: cut it off
            if client.transport is not None:
                client.transport.abort()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def send(self, client: Client, frame: bytes) -> None:
        """Write one ready frame; drop the client if it has stopped reading."""
        tr = client.transport
        if tr is None or tr.is_closing():
            self.clients.discard(client)
            return
        if tr.get_write_buffer_size() > self.config.ws_send_buffer_kb * 1024:
            self.dropped += 1
            metrics.WS_DROPPED.inc()
            self.clients.discard(client)
            log.info("dropping a websocket client that stopped reading")
            self._spawn(self._close(client, WSCloseCode.TRY_AGAIN_LATER, b"too slow"))
            return
        tr.write(frame)
        self.sent += 1

    async def snapshot_for(self, client: Client) -> None:
        """The current top 10, sent to one client right after it connects."""
        entries = (await self.reader.page(0, store.TOP_N)).entries
        seq = int(await self.redis.get(store.BOARDSEQ) or 0)
        # one message per connection: aiohttp's own writer, which waits for a full buffer
        await client.ws.send_str(self.message(entries, [], max(seq, self.seq)).decode())

    # fan-out ---------------------------------------------------------------
    def message(self, entries: list[dict[str, Any]], changes: list[dict[str, Any]],
                seq: int) -> bytes:
        return orjson.dumps({
            "type": "leaderboard_update",
            "data": {"leaderboard": entries, "changes": changes},
            "seq": seq,
            "timestamp": now_ms(),
        })

    def on_event(self, payload: bytes | str) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        kind = event.get("kind")
        if kind == "revoke":
            self.revoke(event.get("user_id"), event.get("jti"))
            return
        if kind == "refresh":
            self._dirty.set()
            return
        self.seq = max(self.seq, int(event.get("seq", 0)))
        self._changes.append({
            "user_id": event.get("user_id"),
            "previous_rank": None if event.get("previous_rank", -1) < 0 else event["previous_rank"],
            "rank": event.get("rank"),
            "score": int(event.get("score", 0)),
        })
        self._dirty.set()

    def revoke(self, user_id: str | None, jti: str | None) -> None:
        for c in set(self.clients):
            if (user_id and c.user_id == user_id) or (jti and c.jti == jti):
                self._spawn(self._close(c, WSCloseCode.POLICY_VIOLATION, b"session ended"))

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        window = self.config.ws_coalesce_ms / 1000
        last = -window
        while not self._closing:
            await self._dirty.wait()
            wait = last + window - loop.time()
            if wait > 0:  # a message went out less than a window ago: gather the burst
                await asyncio.sleep(wait)
            self._dirty.clear()
            changes, self._changes = self._changes, []
            self._busy = True
            try:
                await self.broadcast(changes)
                last = loop.time()
            except RedisError as exc:
                store.reraise_if_cancelling()
                log.warning("hub could not read the board: %s", exc.__class__.__name__)
                self._changes = changes + self._changes
                self._dirty.set()
                await asyncio.sleep(0.5)
            finally:
                self._busy = False

    async def broadcast(self, changes: list[dict[str, Any]]) -> None:
        entries = (await self.reader.page(0, store.TOP_N)).entries
        seq = max(self.seq, int(await self.redis.get(store.BOARDSEQ) or 0))
        self.seq = seq
        self.broadcast_seq = seq
        frame = text_frame(self.message(entries, _latest_per_user(changes), seq))
        updated = now_ms()
        self.memo.put(top10_data(entries, updated, self.config.cache_ttl_s))  # GET top10 here
        before = self.sent
        for client in list(self.clients):
            self.send(client, frame)
        metrics.WS_SENT.inc(self.sent - before)
        await store_top10(self.redis, entries, self.config.cache_ttl_s, updated)

    async def settled(self) -> bool:
        """True when every change of the board so far has been broadcast."""
        board = int(await self.redis.get(store.BOARDSEQ) or 0)
        return self.broadcast_seq >= board and not self._dirty.is_set() and not self._busy

    async def _listen(self) -> None:
        delay = 0.05
        first = True
        while not self._closing:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(store.CHANNEL)
                self.subscribed.set()
                delay = 0.05
                if not first:  # messages published during the gap are gone: resend the board
                    log.info("pubsub resubscribed; sending a fresh snapshot")
                    self._dirty.set()
                first = False
                while not self._closing:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "message":
                        self.on_event(msg["data"])
            except (RedisError, OSError) as exc:
                store.reraise_if_cancelling()
                self.subscribed.clear()
                log.warning("pubsub lost (%s); reconnecting", exc.__class__.__name__)
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_S, delay * 2)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()


def _latest_per_user(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One change per player over the window: from their first rank to their last."""
    merged: dict[str, dict[str, Any]] = {}
    for ch in changes:
        prev = merged.get(ch["user_id"])
        merged[ch["user_id"]] = {**ch, "previous_rank": prev["previous_rank"]} if prev else ch
    return list(merged.values())
