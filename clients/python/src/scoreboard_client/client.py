"""The synchronous client (httpx.Client): a game backend's worker, a script, a CLI."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import httpx

from . import _api, _http, calls
from .calls import board_path, get
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
)
from .models import Board as BoardDef
from .retry import Retry


class Client:
    """``Client(url, token)`` (on httpx): ``token`` is a player's JWT or a server key (``sbk_...``:
    updates then name ``user_id``). Every update carries an Idempotency-Key (made when
    none is given) and is sent again with the same key after a timeout, a cut
    connection or a 503; a 429 waits for Retry-After. ``retry`` and ``timeout`` are
    settable. Errors raise ``ScoreboardError`` subclasses carrying ``code``,
    ``message`` and ``fields``."""

    def __init__(self, url: str, token: str | None = None, *, retry: Retry | None = None,
                 timeout: float = 10.0, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or Retry()
        self._http = http or httpx.Client(base_url=self.url, timeout=timeout,
                                          headers=_http.headers(token))
        if http is not None:
            self._http.headers.update(_http.headers(token))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, call: calls.Call) -> Any:
        """Send ``call``, again as the retry rule says; the answer's ``data``."""
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._http.request(call.method, call.path, **_http.request_args(call))
                return _http.answer(resp.status_code, resp.content,
                                    resp.headers.get("Retry-After"))
            except Exception as failure:  # sorted by the retry rule
                wait = _http.wait_before_next(call, self.retry, attempt, failure)
                if wait is None:
                    raise _http.unreachable(failure) from failure
                time.sleep(wait)

    # scores -------------------------------------------------------------------------
    def update(self, action_type: str, value: int, *, user_id: str | None = None,
               metadata: Mapping[str, Any] | None = None,
               idempotency_key: str | None = None) -> UpdateData:
        return cast(UpdateData, self.call(_api.update(action_type, value, user_id, metadata,
                                                      idempotency_key)))

    def board_score(self, board: str, action_type: str, value: int, *,
                    user_id: str | None = None, metadata: Mapping[str, Any] | None = None,
                    idempotency_key: str | None = None) -> BoardScoreData:
        return cast(BoardScoreData, self.call(_api.board_score(
            board, action_type, value, user_id, metadata, idempotency_key)))

    def batch(self, updates: Iterable[Mapping[str, Any]]) -> list[BatchItem]:
        """Updates for players (a server key): sent in requests of at most 100, each
        item with an ``idempotency_key``; one result per update, in order."""
        out: list[BatchItem] = []
        for call in calls.batches(updates):
            out += self.call(call)["results"]
        return out

    # reads --------------------------------------------------------------------------
    def top10(self, board: str | None = None, *, season: int | None = None) -> Top10Data:
        return cast(Top10Data, self.call(calls.top10(board, season)))

    def leaderboard(self, board: str | None = None, *, offset: int = 0, limit: int = 10,
                    season: int | None = None) -> PageData:
        return cast(PageData, self.call(_api.leaderboard(board, offset, limit, season)))

    def me(self, board: str | None = None, *, window: int = 5) -> MeData:
        return cast(MeData, self.call(_api.me(board, window)))

    def rank(self, user_id: str, board: str | None = None, *,
             season: int | None = None) -> RankData:
        return cast(RankData, self.call(_api.rank(user_id, board, season)))

    def ranks(self, board: str, user_ids: list[str], *,
              season: int | None = None) -> RanksData:
        return cast(RanksData, self.call(_api.ranks(board, user_ids, season)))

    def boards(self) -> list[BoardDef]:
        return cast(list[BoardDef], self.call(get("/api/v1/boards"))["boards"])

    def board(self, board: str) -> BoardDetail:
        return cast(BoardDetail, self.call(get(board_path(board))))

    def seasons(self, board: str, *, limit: int | None = None,
                cursor: str | None = None) -> SeasonList:
        return cast(SeasonList, self.call(_api.seasons(board, limit, cursor)))

    def bucket(self, board: str, number: int, *, season: int | None = None) -> BucketData:
        return cast(BucketData, self.call(_api.bucket(board, number, season)))

    def join(self, board: str, *, user_id: str | None = None) -> JoinData:
        return cast(JoinData, self.call(calls.join(board, user_id)))

    # admin --------------------------------------------------------------------------
    def create_user(self, username: str, email: str, *,
                    avatar_url: str | None = None) -> User:
        return cast(User, self.call(_api.create_user(username, email, avatar_url)))

    def ban(self, user_id: str) -> Any:
        return self.call(_api.admin_user(user_id, "ban"))

    def unban(self, user_id: str) -> Any:
        return self.call(_api.admin_user(user_id, "unban"))

    def create_board(self, definition: Mapping[str, Any]) -> BoardDef:
        return cast(BoardDef, self.call(_api.create_board(definition)))

    def change_board(self, board: str, changes: Mapping[str, Any]) -> BoardDef:
        return cast(BoardDef, self.call(_api.change_board(board, changes)))

    def reset_board(self, board: str) -> BoardDef:
        return cast(BoardDef, self.call(_api.reset_board(board)))

    def delete_board(self, board: str) -> Any:
        return self.call(_api.delete_board(board))

    def create_key(self, name: str, *, actions: list[str] | None = None) -> ServerKey:
        return cast(ServerKey, self.call(_api.create_key(name, actions)))

    def keys(self) -> list[ServerKey]:
        return cast(list[ServerKey], self.call(get("/api/v1/admin/keys"))["keys"])

    def revoke_key(self, key_id: str) -> ServerKey:
        return cast(ServerKey, self.call(_api.revoke_key(key_id)))

    def flags(self, *, status: str | None = None, limit: int | None = None,
              cursor: str | None = None) -> dict[str, Any]:
        return cast(dict[str, Any], self.call(_api.flags(status, limit, cursor)))

    def resolve_flag(self, flag_id: int | str, resolution: str) -> dict[str, Any]:
        return cast(dict[str, Any], self.call(_api.resolve_flag(flag_id, resolution)))
