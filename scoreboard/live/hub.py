"""The WebSocket hub: the listener's events routed to this process's sockets.

Three parts, each in its module: the sockets (``sockets.py``: who watches which
board, the cap per player, the heartbeat, writing a frame and dropping a socket
that stopped reading), the per-board coalescing (``feeds.py``), and here the
routing of events (a change, a refresh, a revocation, a board changed) and the push
itself: a board's top 10 read once, its message serialized and framed once, then
written to that board's watchers only (shared among the fan-out's threads).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from .. import errors
from ..board.contests import Contests
from ..board.registry import Boards
from ..board.views import View, Views
from ..clock import now_ms
from ..obs import metrics
from ..settings import Config
from ..store import keys
from ..store.client import RedisClient
from ..store.events import BoardsChanged, BucketChanged, Change, Event, Refresh, Revoke
from ..store.keys import GLOBAL
from .fanout import Writers
from .feeds import Feed, Feeds
from .frames import bucket_message, merge_changes, message, text_frame
from .listener import Listener
from .sockets import Client, Sockets

__all__ = ["Client", "Feed", "Hub"]

WATCHED_TTL_S = 30  # a league board's watched mark; renewed every third of it


class Hub:
    def __init__(self, config: Config, redis: RedisClient, boards: Boards, views: Views,
                 locate: Callable[[], Awaitable[tuple[str, int]]] | None = None,
                 contests: Contests | None = None) -> None:
        self.config = config
        self.contests = contests or Contests(redis)
        self._bucket_due: set[tuple[str, int]] = set()  # pushes that have not read yet
        self._bucket_reads = 0  # bucket pushes started; each remembers its number
        self._bucket_sent: dict[tuple[str, int], int] = {}  # the newest read sent
        self._stopping = asyncio.Event()
        self._marking: asyncio.Task[None] | None = None
        self.redis = redis
        self.boards = boards
        self.views = views
        self.sockets = Sockets(config)
        self.feeds = Feeds(config.ws_coalesce_ms, self.broadcast)
        self.listener = Listener(redis, self.on_event, self._resnapshot, locate)
        self.subscribed = self.listener.subscribed  # set while the Pub/Sub subscription is live
        self.writers = Writers(config.ws_send_threads)
        boards.subscribe(self._boards_moved)

    # lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        self.listener.start()
        self.feeds.start()
        self.sockets.start()
        self._stopping.clear()
        self._marking = asyncio.create_task(self._mark_leagues(), name="hub-leagues")

    async def stop(self) -> None:
        self._stopping.set()  # between two marks: never mid-call (see _mark_leagues)
        if self._marking is not None:
            await self._marking
        await self.listener.stop()
        await self.feeds.stop()
        await self.sockets.stop()
        self.writers.close()

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        await self.sockets.close_all(code)

    # the sockets, as the WebSocket handler sees them ------------------------------
    @property
    def clients(self) -> set[Client]:
        return self.sockets.clients

    @property
    def dropped(self) -> int:
        return self.sockets.dropped

    def count_for(self, user_id: str) -> int:
        return self.sockets.count_for(user_id)

    def add(self, ws: web.WebSocketResponse, user_id: str, jti: str,
            transport: asyncio.Transport | None, board: str = GLOBAL) -> Client:
        self.feeds.of(board)
        return self.sockets.add(ws, user_id, jti, transport, board)

    def remove(self, client: Client) -> None:
        self.sockets.remove(client)

    def _view(self, board_id: str) -> View | None:
        board = self.boards.cached(board_id)
        return self.views.of(board) if board is not None else None

    async def snapshot_for(self, client: Client) -> None:
        """The current top 10 of its board, sent to one client right after it connects;
        then it joins the broadcasts.

        The sequence is read before the board, so the snapshot is at least as new as its
        ``seq`` says. Broadcasts skip the client until its snapshot is out (else a newer
        change could reach it before the older snapshot); one that went out meanwhile is
        sent to it right after, so its ``seq`` never goes back and it ends on the truth.
        """
        view = self._view(client.board)
        if view is None:  # retired since the handler found it
            await self.sockets.close(client, WSCloseCode.GOING_AWAY, b"board retired")
            return
        seq = int(await self.redis.get(view.board.keys.boardseq) or 0)
        entries = await view.reader.top()
        # one message per connection: aiohttp's own writer, which waits for a full buffer
        await client.ws.send_str(
            message(entries, [], seq, view.board.id, view.board.season).decode())
        client.joined = True
        feed = self.feeds.of(client.board)
        if feed.broadcast_seq > seq and feed.last_frame is not None:
            self.sockets.send(client, feed.last_frame)
        if view.board.league is not None:
            # announced from now on; the bucket read after, so no change falls between
            await self.redis.set(keys.league_watched(view.board.id), 1, ex=WATCHED_TTL_S)
            found = await self.contests.of_player(view.board, client.user_id)
            client.bucket, client.season = found.number or None, view.board.season
            self.sockets.send(client, text_frame(bucket_message(view.board, found)))

    # routing ---------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if isinstance(event, Revoke):
            self.sockets.close_where(WSCloseCode.POLICY_VIOLATION, b"session ended",
                                     user_id=event.user_id, jti=event.jti)
        elif isinstance(event, Refresh):
            self.feeds.mark(event.board)
        elif isinstance(event, BoardsChanged):
            self.sockets.spawn(self._boards_changed())
        elif isinstance(event, BucketChanged):
            self._bucket_moved(event)
        else:
            self.feeds.change(event)

    async def _boards_changed(self) -> None:
        """Another process changed a board: reload (``_boards_moved`` hears what moved)."""
        with contextlib.suppress(RedisError):
            await self.boards.load()

    def _boards_moved(self, board_ids: set[str]) -> None:
        """Boards whose definitions changed here: a retired board's watchers are let go,
        the others see the change (a new season, a title) at once."""
        watched = self.sockets.boards()
        for board_id in board_ids:
            if self.boards.cached(board_id) is None:
                self.sockets.close_where(WSCloseCode.GOING_AWAY, b"board retired",
                                         board=board_id)
                self.feeds.drop(board_id)
            elif board_id in self.feeds.by_board or board_id in watched:
                self.feeds.mark(board_id)
                self._new_season(board_id)

    # league buckets --------------------------------------------------------------
    async def _mark_leagues(self) -> None:
        """While this process has watchers of a league board, its key says so, so the
        score script announces the board's bucket changes (nobody watching: no
        announcements). Stops between marks (an Event, not a cancellation mid-call)."""
        while not self._stopping.is_set():
            watched = [b for b in self.sockets.boards()
                       if (board := self.boards.cached(b)) is not None and board.league]
            for board_id in watched:
                with contextlib.suppress(RedisError):
                    await self.redis.set(keys.league_watched(board_id), 1, ex=WATCHED_TTL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), WATCHED_TTL_S / 3)

    def _new_season(self, board_id: str) -> None:
        """A league board's watchers whose bucket belongs to an ended season are told
        they are not placed in the new one (until their first score there)."""
        board = self.boards.cached(board_id)
        if board is None or board.league is None:
            return
        frame: bytes | None = None
        for client in self.sockets.watching(board_id):
            if client.bucket is not None and client.season != board.season:
                client.bucket = None
                frame = frame or text_frame(bucket_message(board, None))
                self.sockets.send(client, frame)
            client.season = board.season

    def _bucket_moved(self, event: BucketChanged) -> None:
        """A score moved in a bucket: its watchers here get its standings, read once (a
        push that has not read yet covers every event before its read)."""
        key = (event.board, event.bucket)
        if key in self._bucket_due or event.board not in self.sockets.boards():
            return
        self._bucket_due.add(key)
        self.sockets.spawn(self._push_bucket(key, event.season))

    async def _push_bucket(self, key: tuple[str, int], season: int) -> None:
        self._bucket_due.discard(key)  # from here on, a new event needs a new read
        self._bucket_reads += 1
        number = self._bucket_reads
        board = self.boards.cached(key[0])
        if board is None or board.season != season:
            return
        try:
            found = await self.contests.bucket(board, key[1])
        except (errors.NotFound, RedisError):
            return
        if self._bucket_sent.get(key, 0) > number:  # a later read went out first
            return
        self._bucket_sent[key] = number
        players = {e["user_id"] for e in found.entries}
        frame = text_frame(bucket_message(board, found))
        for client in self.sockets.watching(key[0]):
            if client.bucket == key[1] or (client.bucket is None and client.user_id in players):
                client.bucket, client.season = key[1], season
                self.sockets.send(client, frame)

    def _resnapshot(self) -> None:
        """After a Pub/Sub gap: push a fresh snapshot to every socket."""
        for board in {GLOBAL, *self.sockets.boards()}:
            self.feeds.mark(board)

    # the push --------------------------------------------------------------
    async def broadcast(self, changes: list[Change], board_id: str = GLOBAL) -> None:
        view = self._view(board_id)
        if view is None:  # retired, or unknown here: nobody to tell
            return
        feed = self.feeds.of(board_id)
        if board_id != GLOBAL and board_id not in self.sockets.boards():
            # nobody here watches it: drop the stale copies instead of reading the board
            # (the next GET of its top 10 reads it once, for every process)
            feed.seq = feed.broadcast_seq = max(feed.seq, *(c.seq for c in changes), 0)
            await view.top10.invalidate()
            return
        entries = await view.reader.top()
        seq = max(feed.seq, int(await self.redis.get(view.board.keys.boardseq) or 0))
        feed.seq = feed.broadcast_seq = seq
        season = view.board.season
        changes = [c for c in changes if c.season == season]  # not a season that ended
        frame = feed.last_frame = text_frame(message(entries, merge_changes(changes), seq,
                                                     board_id, season))
        view.top10.remember(entries, now_ms())  # GET top10 here serves what was pushed
        sockets = self.sockets
        before = sockets.sent
        sockets.sent += self.writers.write(sockets.watching(board_id), frame, sockets.send)
        metrics.WS_SENT.inc(sockets.sent - before)
        await view.top10.store(entries)

    async def settled(self, board_id: str = GLOBAL) -> bool:
        """True when every change of the board so far has been broadcast."""
        view = self._view(board_id)
        if view is None:
            return True
        board = int(await self.redis.get(view.board.keys.boardseq) or 0)
        feed = self.feeds.by_board.get(board_id) or Feed()
        return feed.broadcast_seq >= board and not self.feeds.pending(board_id)
