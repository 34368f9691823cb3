"""The asyncio client (httpx.AsyncClient), and ``watch``: a board's top 10 as an async
iterator that reconnects by itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, cast

import aiohttp
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from . import _api, _http, calls
from .calls import board_path, get
from .errors import Unauthorized
from .models import (
    BatchItem,
    BoardDetail,
    BoardScoreData,
    BucketData,
    JoinData,
    MeData,
    PageData,
    RankData,
    RanksData,
    SeasonList,
    ServerKey,
    Top10Data,
    UpdateData,
    User,
    WatchMessage,
)
from .models import Board as BoardDef
from .retry import Retry

# the service closes a socket whose session ended (logout, ban) with 1008: no retry
POLICY_VIOLATION = 1008


class AsyncClient:
    """As ``Client``, for asyncio (on aiohttp: its connection pool keeps up with many
    updates in flight, where httpx's slowed to a tenth of raw calls at 32); also
    ``watch(board)``."""

    def __init__(self, url: str, token: str | None = None, *, retry: Retry | None = None,
                 timeout: float = 10.0, session: aiohttp.ClientSession | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.retry = retry or Retry()
        self.timeout = timeout
        self._headers = _http.headers(token)
        self._own = session is None
        self._session = session

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made in the running loop, on first use
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=100))
        return self._session

    async def aclose(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def call(self, call: calls.Call) -> Any:
        """Send ``call``, again as the retry rule says; the answer's ``data``."""
        session, url = self._client(), self.url + call.path
        headers = {**self._headers, **call.headers}
        attempt = 0
        while True:
            attempt += 1
            try:
                async with session.request(call.method, url, json=call.json,
                                           params=_params(call), headers=headers) as resp:
                    return _http.answer(resp.status, await resp.read(),
                                        resp.headers.get("Retry-After"))
            except Exception as failure:  # sorted by the retry rule
                wait = _http.wait_before_next(call, self.retry, attempt, failure)
                if wait is None:
                    raise _http.unreachable(failure) from failure
                await asyncio.sleep(wait)

    # scores -------------------------------------------------------------------------
    async def update(self, action_type: str, value: int, *, user_id: str | None = None,
                     metadata: Mapping[str, Any] | None = None,
                     idempotency_key: str | None = None) -> UpdateData:
        return cast(UpdateData, await self.call(_api.update(action_type, value, user_id, metadata,
                                                      idempotency_key)))

    async def board_score(self, board: str, action_type: str, value: int, *,
                          user_id: str | None = None, metadata: Mapping[str, Any] | None = None,
                          idempotency_key: str | None = None) -> BoardScoreData:
        return cast(BoardScoreData, await self.call(_api.board_score(
            board, action_type, value, user_id, metadata, idempotency_key)))

    async def batch(self, updates: Iterable[Mapping[str, Any]]) -> list[BatchItem]:
        """Updates for players (a server key): sent in requests of at most 100, each
        item with an ``idempotency_key``; one result per update, in order."""
        out: list[BatchItem] = []
        for call in calls.batches(updates):
            out += (await self.call(call))["results"]
        return out

    # reads --------------------------------------------------------------------------
    async def top10(self, board: str | None = None, *, season: int | None = None) -> Top10Data:
        return cast(Top10Data, await self.call(calls.top10(board, season)))

    async def leaderboard(self, board: str | None = None, *, offset: int = 0, limit: int = 10,
                          season: int | None = None) -> PageData:
        return cast(PageData, await self.call(_api.leaderboard(board, offset, limit, season)))

    async def me(self, board: str | None = None, *, window: int = 5) -> MeData:
        return cast(MeData, await self.call(_api.me(board, window)))

    async def rank(self, user_id: str, board: str | None = None, *,
                   season: int | None = None) -> RankData:
        return cast(RankData, await self.call(_api.rank(user_id, board, season)))

    async def ranks(self, board: str, user_ids: list[str], *,
                    season: int | None = None) -> RanksData:
        return cast(RanksData, await self.call(_api.ranks(board, user_ids, season)))

    async def boards(self) -> list[BoardDef]:
        return cast(list[BoardDef], (await self.call(get("/api/v1/boards")))["boards"])

    async def board(self, board: str) -> BoardDetail:
        return cast(BoardDetail, await self.call(get(board_path(board))))

    async def seasons(self, board: str, *, limit: int | None = None,
                      cursor: str | None = None) -> SeasonList:
        return cast(SeasonList, await self.call(_api.seasons(board, limit, cursor)))

    async def bucket(self, board: str, number: int, *, season: int | None = None) -> BucketData:
        return cast(BucketData, await self.call(_api.bucket(board, number, season)))

    async def join(self, board: str, *, user_id: str | None = None) -> JoinData:
        return cast(JoinData, await self.call(calls.join(board, user_id)))

    # admin --------------------------------------------------------------------------
    async def create_user(self, username: str, email: str, *,
                          avatar_url: str | None = None) -> User:
        return cast(User, await self.call(_api.create_user(username, email, avatar_url)))

    async def ban(self, user_id: str) -> Any:
        return await self.call(_api.admin_user(user_id, "ban"))

    async def unban(self, user_id: str) -> Any:
        return await self.call(_api.admin_user(user_id, "unban"))

    async def create_board(self, definition: Mapping[str, Any]) -> BoardDef:
        return cast(BoardDef, await self.call(_api.create_board(definition)))

    async def change_board(self, board: str, changes: Mapping[str, Any]) -> BoardDef:
        return cast(BoardDef, await self.call(_api.change_board(board, changes)))

    async def reset_board(self, board: str) -> BoardDef:
        return cast(BoardDef, await self.call(_api.reset_board(board)))

    async def delete_board(self, board: str) -> Any:
        return await self.call(_api.delete_board(board))

    async def create_key(self, name: str, *, actions: list[str] | None = None) -> ServerKey:
        return cast(ServerKey, await self.call(_api.create_key(name, actions)))

    async def keys(self) -> list[ServerKey]:
        return cast(list[ServerKey], (await self.call(get("/api/v1/admin/keys")))["keys"])

    async def revoke_key(self, key_id: str) -> ServerKey:
        return cast(ServerKey, await self.call(_api.revoke_key(key_id)))

    async def flags(self, *, status: str | None = None, limit: int | None = None,
                    cursor: str | None = None) -> dict[str, Any]:
        return cast(dict[str, Any], await self.call(_api.flags(status, limit, cursor)))

    async def resolve_flag(self, flag_id: int | str, resolution: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self.call(_api.resolve_flag(flag_id, resolution)))
    # live ---------------------------------------------------------------------------
    async def watch(self, board: str = "global", *, stop: asyncio.Event | None = None
                    ) -> AsyncIterator[WatchMessage]:
        """The board's top 10 as it changes (on a league board, also the watcher's own
        bucket). Each connection starts from the service's snapshot; a dropped
        connection is made again with backoff (the retry policy's, without a bound);
        a top 10 older (``seq``) than one already yielded is skipped, so what this
        yields never goes back. Ends when ``stop`` is set; a refused token raises
        ``Unauthorized``."""
        ws_url = "ws" + self.url[len("http"):] + f"/ws/leaderboard?board={calls._p(board)}"
        protocols = [f"bearer.{self.token}"] if self.token else []
        last = -1
        failures = 0
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                async with websockets.connect(ws_url, subprotocols=protocols,  # type: ignore[arg-type]
                                              open_timeout=self.timeout,
                                              max_size=2**22) as ws:
                    failures = 0
                    async for raw in _until(ws, stop):
                        msg = json.loads(raw)
                        if msg.get("type") == "leaderboard_update":
                            if msg.get("seq", 0) < last:
                                continue  # older than what was yielded: skipped
                            last = msg.get("seq", last)
                        yield cast(WatchMessage, msg)
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    raise Unauthorized("the service refused this token for watching",
                                       status=exc.response.status_code) from exc
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == POLICY_VIOLATION:
                    raise Unauthorized(f"the session ended: {exc.rcvd.reason}") from exc
            except (WebSocketException, OSError, TimeoutError):
                pass  # a handshake cut short (a service restarting), no route: again
            if stop.is_set():
                return
            failures += 1
            with contextlib.suppress(TimeoutError):  # back off, unless told to stop
                await asyncio.wait_for(stop.wait(), self.retry.backoff(min(failures, 8)))


async def _until(ws: Any, stop: asyncio.Event) -> AsyncIterator[str | bytes]:
    """The socket's messages until it closes or ``stop`` is set."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            received = asyncio.ensure_future(ws.recv())
            done, _ = await asyncio.wait({received, stopped},
                                         return_when=asyncio.FIRST_COMPLETED)
            if stopped in done:
                received.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await received
                return
            yield received.result()
    finally:
        stopped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopped


def _params(call: calls.Call) -> dict[str, str] | None:
    """Query parameters as aiohttp takes them (text values)."""
    if not call.params:
        return None
    return {k: str(v) for k, v in call.params.items()}
