"""The WebSocket hub: the listener's events fanned out to this process's sockets.

Each message is serialized and framed once, then written to every socket's
transport without awaiting: a write either leaves at once or waits in that
socket's own buffer. The buffer is the socket's bounded queue: a client whose
unsent bytes pass ``WS_SEND_BUFFER_KB`` has stopped reading and is dropped
(close 1013, then cut off), so a slow client never slows the others.

Each socket watches one board. Changes are coalesced per board: the first change
after a quiet window goes out at once, later ones wait for the window
(``WS_COALESCE_MS``) to end, so a socket gets at most one message per window and
an isolated change has no added delay. A board's messages go to its own watchers
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from ..board.definitions import GLOBAL, Board
from ..board.registry import Boards
from ..board.top10 import Top10Cache
from ..board.views import View, Views
from ..clock import now_ms
from ..obs import metrics
from ..settings import Config
from ..store.client import RedisClient, reraise_if_cancelling
from ..store.events import BoardsChanged, Change, Event, Refresh, Revoke
from .fanout import Writers, socket_fd
from .frames import merge_changes, message, text_frame
from .listener import Listener

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


@dataclass(eq=False)
class Feed:
    """One board's fan-out state."""

    seq: int = 0
    broadcast_seq: int = 0  # the board seq of the last broadcast
    last_frame: bytes | None = None  # that broadcast, for a client joining late
    changes: list[Change] = field(default_factory=list)


class Hub:
    def __init__(self, config: Config, redis: RedisClient, top10: Top10Cache,
                 boards: Boards | None = None, views: Views | None = None,
                 locate: Callable[[], Awaitable[tuple[str, int]]] | None = None) -> None:
        self.config = config
        self.redis = redis
        self.top10 = top10
        self.boards = boards
        self.views = views
        self.listener = Listener(redis, self.on_event, self._resnapshot, locate)
        self.subscribed = self.listener.subscribed  # set while the Pub/Sub subscription is live
        self.clients: set[Client] = set()
        self._per_user: Counter[str] = Counter()  # sockets per player, for the cap
        self.sent = 0
        self.dropped = 0
        self.feeds: dict[str, Feed] = {GLOBAL: Feed()}
        self._pending: set[str] = set()  # boards with something to broadcast
        self._dirty = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._busy = False
        self._slots: list[set[Client]] = [set() for _ in range(HEARTBEAT_SLICES)]
        self._joined = 0
        self._heartbeat: asyncio.Task[None] | None = None
        self.writers = Writers(config.ws_send_threads)
        if boards is not None:
            boards.subscribe(self._boards_moved)

    # lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        self.listener.start()
        self._flusher = asyncio.create_task(self._flush_loop(), name="hub-flusher")
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="hub-heartbeat")

    async def stop(self) -> None:
        # A flag as well as cancel(): a library may swallow a cancellation mid-call,
        # and the loop must end all the same.
        self._closing = True
        self._dirty.set()
        await self.listener.stop()
        for task in (self._flusher, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, 5)
        await self.close_all()
        self.writers.close()

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        await asyncio.gather(*(self._close(c, code, b"server shutdown") for c in set(self.clients)),
                             return_exceptions=True)

    # sockets ---------------------------------------------------------------
    def count_for(self, user_id: str) -> int:
        return self._per_user[user_id]

    def add(self, ws: web.WebSocketResponse, user_id: str, jti: str,
            transport: asyncio.Transport | None, board: str = GLOBAL) -> Client:
        self._joined += 1
        client = Client(ws, user_id, jti, transport, board, slot=self._joined % HEARTBEAT_SLICES,
                        fd=socket_fd(transport))
        self.feeds.setdefault(board, Feed())
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
                    self._spawn(self._close(client, WSCloseCode.ABNORMAL_CLOSURE, b"no pong"))
                elif tr is not None and not tr.is_closing():
                    client.heard = False
                    tr.write(PING_FRAME)

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
            self._spawn(self._close(client, WSCloseCode.TRY_AGAIN_LATER, b"too slow"))
            return
        tr.write(frame)
        self.sent += 1

    # the legacy single-board view (global) -------------------------------------
    @property
    def broadcast_seq(self) -> int:
        return self.feeds[GLOBAL].broadcast_seq

    @property
    def last_frame(self) -> bytes | None:
        return self.feeds[GLOBAL].last_frame

    def _view(self, board_id: str) -> View:
        board = self.boards.cached(board_id) if self.boards is not None else None
        if board is None or self.views is None:
            return View(Board(GLOBAL, "Global"), self.top10.reader, self.top10)
        return self.views.of(board)

    async def snapshot_for(self, client: Client) -> None:
        """The current top 10 of its board, sent to one client right after it connects;
        then it joins the broadcasts.

        The sequence is read before the board, so the snapshot is at least as new as its
        ``seq`` says. Broadcasts skip the client until its snapshot is out (else a newer
        change could reach it before the older snapshot); one that went out meanwhile is
        sent to it right after, so its ``seq`` never goes back and it ends on the truth.
        """
        view = self._view(client.board)
        seq = int(await self.redis.get(view.board.keys.boardseq) or 0)
        entries = await view.reader.top()
        # one message per connection: aiohttp's own writer, which waits for a full buffer
        await client.ws.send_str(
            message(entries, [], seq, view.board.id, view.board.season).decode())
        client.joined = True
        feed = self.feeds.setdefault(client.board, Feed())
        if feed.broadcast_seq > seq and feed.last_frame is not None:
            self.send(client, feed.last_frame)

    # fan-out ---------------------------------------------------------------
    def _mark(self, board: str) -> None:
        self._pending.add(board)
        self._dirty.set()

    def on_event(self, event: Event) -> None:
        if isinstance(event, Revoke):
            self.revoke(event.user_id, event.jti)
        elif isinstance(event, Refresh):
            self._mark(event.board)
        elif isinstance(event, BoardsChanged):
            self._spawn(self._boards_changed(event.board))
        else:
            feed = self.feeds.setdefault(event.board, Feed())
            feed.seq = max(feed.seq, event.seq)
            feed.changes.append(event)
            self._mark(event.board)

    async def _boards_changed(self, board_id: str) -> None:
        """Another process changed a board: reload (``_boards_moved`` hears what moved)."""
        if self.boards is None:
            return
        with contextlib.suppress(RedisError):
            await self.boards.load()

    def _boards_moved(self, board_ids: set[str]) -> None:
        """Boards whose definitions changed here: a retired board's watchers are let go,
        the others see the change (a new season, a title) at once."""
        assert self.boards is not None
        for board_id in board_ids:
            if self.boards.cached(board_id) is None:
                for c in [c for c in self.clients if c.board == board_id]:
                    self._spawn(self._close(c, WSCloseCode.GOING_AWAY, b"board retired"))
                self.feeds.pop(board_id, None)
            elif board_id in self.feeds or any(c.board == board_id for c in self.clients):
                self._mark(board_id)

    def _resnapshot(self) -> None:
        """After a Pub/Sub gap: push a fresh snapshot to every socket."""
        for board in {GLOBAL, *(c.board for c in self.clients)}:
            self._mark(board)

    def revoke(self, user_id: str | None, jti: str | None) -> None:
        for c in set(self.clients):
            if (user_id and c.user_id == user_id) or (jti and c.jti == jti):
                self._spawn(self._close(c, WSCloseCode.POLICY_VIOLATION, b"session ended"))

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        window = self.config.ws_coalesce_ms / 1000
        last: dict[str, float] = {}
        while not self._closing:
            await self._dirty.wait()
            if not self._pending:
                self._dirty.clear()
                continue
            now = loop.time()
            due = {b for b in self._pending if last.get(b, -window) + window <= now}
            if not due:  # every pending board sent less than a window ago: gather the burst
                wait = min(last[b] + window for b in self._pending) - now
                await asyncio.sleep(max(wait, 0))
                continue
            self._pending -= due
            if not self._pending:
                self._dirty.clear()
            self._busy = True
            try:
                for board in sorted(due):
                    feed = self.feeds.setdefault(board, Feed())
                    changes, feed.changes = feed.changes, []
                    try:
                        await self.broadcast(changes, board)
                        last[board] = loop.time()
                    except RedisError as exc:
                        reraise_if_cancelling()
                        log.warning("hub could not read board %s: %s", board,
                                    exc.__class__.__name__)
                        feed.changes = changes + feed.changes
                        self._mark(board)
                        await asyncio.sleep(0.5)
            finally:
                self._busy = False

    async def broadcast(self, changes: list[Change], board_id: str = GLOBAL) -> None:
        view = self._view(board_id)
        if view.board.id != board_id:  # retired, or unknown here: nobody to tell
            return
        feed = self.feeds.setdefault(board_id, Feed())
        if board_id != GLOBAL and not any(c.board == board_id for c in self.clients):
            # nobody here watches it: drop the stale copies instead of reading the board
            # (the next GET of its top 10 reads it once, for every process)
            feed.seq = feed.broadcast_seq = max(feed.seq, *(c.seq for c in changes), 0)
            view.top10.memo.current = None
            await self.redis.delete(view.top10.key)
            return
        entries = await view.reader.top()
        seq = max(feed.seq, int(await self.redis.get(view.board.keys.boardseq) or 0))
        feed.seq = feed.broadcast_seq = seq
        season = view.board.season
        changes = [c for c in changes if c.season == season]  # not a season that ended
        frame = feed.last_frame = text_frame(message(entries, merge_changes(changes), seq,
                                                     board_id, season))
        view.top10.remember(entries, now_ms())  # GET top10 here serves what was pushed
        before = self.sent
        watchers = [c for c in self.clients if c.joined and c.board == board_id]
        self.sent += self.writers.write(watchers, frame, self.send)
        metrics.WS_SENT.inc(self.sent - before)
        await view.top10.store(entries)

    async def settled(self, board_id: str = GLOBAL) -> bool:
        """True when every change of the board so far has been broadcast."""
        view = self._view(board_id)
        board = int(await self.redis.get(view.board.keys.boardseq) or 0)
        feed = self.feeds.get(board_id) or Feed()
        return (feed.broadcast_seq >= board and board_id not in self._pending
                and not self._busy)
