"""This process's WebSocket connections: who is connected to which board, the cap
per player, one heartbeat for all of them, and writing a ready frame to a socket.

A frame is written to a socket's transport without awaiting: it either leaves at once
or waits in that socket's own buffer. The buffer is the socket's bounded queue: a
client whose unsent bytes pass ``WS_SEND_BUFFER_KB`` has stopped reading and is
dropped (close 1013, then cut off), so a slow client never slows the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from ..obs import metrics
from ..settings import Config
from ..store.keys import GLOBAL
from .fanout import socket_fd

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0
PING_FRAME = b"\x89\x00"  # an empty ping, unmasked (server to client)
HEARTBEAT_SLICES = 20  # each socket is pinged in one of these slices of the interval


@dataclass(eq=False, slots=True)
class Client:
    ws: web.WebSocketResponse
    user_id: str
    jti: str
    transport: asyncio.Transport | None
    board: str = GLOBAL
    joined: bool = False  # has had its snapshot: broadcasts go to it from now on
    slot: int = 0  # its heartbeat slice
    heard: bool = True  # it sent something (a pong) since its last ping
    fd: int = -1  # its socket, for the fan-out's threads (-1: through the transport only)
    bucket: int | None = None  # on a league board: the player's bucket (None: not placed)
    season: int = 0  # the season ``bucket`` belongs to


class Sockets:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.clients: set[Client] = set()
        self._per_user: Counter[str] = Counter()  # sockets per player, for the cap
        self._slots: list[set[Client]] = [set() for _ in range(HEARTBEAT_SLICES)]
        self._joined = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing = False
        self.sent = 0
        self.dropped = 0

    # lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="hub-heartbeat")

    async def stop(self) -> None:
        self._closing = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._heartbeat, 5)
        await self.close_all()

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        await asyncio.gather(*(self.close(c, code, b"server shutdown")
                               for c in set(self.clients)), return_exceptions=True)

    # who is connected ------------------------------------------------------
    def count_for(self, user_id: str) -> int:
        return self._per_user[user_id]

    def add(self, ws: web.WebSocketResponse, user_id: str, jti: str,
            transport: asyncio.Transport | None, board: str = GLOBAL) -> Client:
        self._joined += 1
        client = Client(ws, user_id, jti, transport, board, slot=self._joined % HEARTBEAT_SLICES,
                        fd=socket_fd(transport))
        self.clients.add(client)
        self._per_user[user_id] += 1
        self._slots[client.slot].add(client)
        metrics.WS_CLIENTS.set(len(self.clients))
        return client

    def remove(self, client: Client) -> None:
        if client not in self.clients:  # removed already (a drop, then its handler's end)
            return
        self.clients.remove(client)
        self._per_user[client.user_id] -= 1
        if not self._per_user[client.user_id]:
            del self._per_user[client.user_id]
        self._slots[client.slot].discard(client)
        metrics.WS_CLIENTS.set(len(self.clients))

    def watching(self, board: str) -> list[Client]:
        """The sockets that have had their snapshot of ``board``."""
        return [c for c in self.clients if c.joined and c.board == board]

    def boards(self) -> set[str]:
        """The boards some socket here watches."""
        return {c.board for c in self.clients}

    def close_where(self, code: int, reason: bytes, *, board: str | None = None,
                    user_id: str | None = None, jti: str | None = None) -> None:
        """Close every socket of a board, a player or a session."""
        for c in set(self.clients):
            if ((board is not None and c.board == board)
                    or (user_id and c.user_id == user_id) or (jti and c.jti == jti)):
                self.spawn(self.close(c, code, reason))

    # writing ---------------------------------------------------------------
    def send(self, client: Client, frame: bytes) -> None:
        """Write one ready frame (or its rest); drop the client if it has stopped
        reading."""
        tr = client.transport
        if tr is None or tr.is_closing():
            self.remove(client)
            return
        if tr.get_write_buffer_size() > self.config.ws_send_buffer_kb * 1024:
            self.dropped += 1
            metrics.WS_DROPPED.inc()
            self.remove(client)
            log.info("dropping a websocket client that stopped reading")
            self.spawn(self.close(client, WSCloseCode.TRY_AGAIN_LATER, b"too slow"))
            return
        tr.write(frame)
        self.sent += 1

    async def close(self, client: Client, code: int, reason: bytes) -> None:
        self.remove(client)
        try:
            await asyncio.wait_for(client.ws.close(code=code, message=reason), CLOSE_TIMEOUT_S)
        except Exception:
            # a client that reads nothing cannot even take the close frame: cut it off
            if client.transport is not None:
                client.transport.abort()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _heartbeat_loop(self) -> None:
        """One timer for every socket: each slice of the interval pings its share of the
        sockets, and closes those that answered nothing since their last ping. (A
        timer and a ping task per socket, as aiohttp's own heartbeat has, come due in
        bursts when many sockets connected together, and hold memory per socket.)"""
        step = self.config.ws_heartbeat_s / HEARTBEAT_SLICES
        index = 0
        while not self._closing:
            await asyncio.sleep(step)
            index = (index + 1) % HEARTBEAT_SLICES
            for client in list(self._slots[index]):
                tr = client.transport
                if not client.heard:
                    log.info("closing a websocket client that answered no ping")
                    self.spawn(self.close(client, WSCloseCode.ABNORMAL_CLOSURE, b"no pong"))
                elif tr is not None and not tr.is_closing():
                    client.heard = False
                    tr.write(PING_FRAME)
