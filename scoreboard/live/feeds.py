"""Per-board coalescing of pushes.

Each board has a feed: the changes since its last push, the board sequence that push
showed, and its frame (for a socket that joins late). Changes are coalesced per board:
the first change after a quiet window goes out at once, later ones wait for the window
(``WS_COALESCE_MS``) to end, so a socket gets at most one message per window and an
isolated change has no added delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from ..store.events import Change
from ..store.keys import GLOBAL
from ..tasks import reraise_if_cancelling

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Feed:
    """One board's fan-out state."""

    seq: int = 0
    broadcast_seq: int = 0  # the board seq of the last broadcast
    last_frame: bytes | None = None  # that broadcast, for a client joining late
    changes: list[Change] = field(default_factory=list)


Push = Callable[[list[Change], str], Awaitable[None]]


class Feeds:
    def __init__(self, window_ms: int, push: Push) -> None:
        self.window = window_ms / 1000
        self.push = push  # sends a board's changes (the hub's broadcast)
        self.by_board: dict[str, Feed] = {GLOBAL: Feed()}
        self._pending: set[str] = set()  # boards with something to push
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.busy = False  # a push is under way

    def of(self, board: str) -> Feed:
        feed = self.by_board.get(board)
        if feed is None:
            feed = self.by_board[board] = Feed()
        return feed

    def mark(self, board: str) -> None:
        """The board has something to push (a change, a new season, a gap)."""
        self._pending.add(board)
        self._dirty.set()

    def change(self, event: Change) -> None:
        feed = self.of(event.board)
        feed.seq = max(feed.seq, event.seq)
        feed.changes.append(event)
        self.mark(event.board)

    def drop(self, board: str) -> None:
        self.by_board.pop(board, None)

    def pending(self, board: str) -> bool:
        return board in self._pending or self.busy

    # the loop ---------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="hub-flusher")

    async def stop(self) -> None:
        # A flag as well as cancel(): a library may swallow a cancellation mid-call,
        # and the loop must end all the same.
        self._closing = True
        self._dirty.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 5)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        window = self.window
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
            self.busy = True
            try:
                for board in sorted(due):
                    feed = self.of(board)
                    changes, feed.changes = feed.changes, []
                    try:
                        await self.push(changes, board)
                        last[board] = loop.time()
                    except RedisError as exc:
                        reraise_if_cancelling()
                        log.warning("hub could not read board %s: %s", board,
                                    exc.__class__.__name__)
                        feed.changes = changes + feed.changes
                        self.mark(board)
                        await asyncio.sleep(0.5)
            finally:
                self.busy = False
