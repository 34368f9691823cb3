"""Every request the clients make, once: method, path, body, and whether it may be
tried again (reads, and writes made safe by an ``Idempotency-Key`` or by being no-ops
when repeated)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

MAX_BATCH = 100  # updates per POST /api/v1/scores/batch


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry: bool = False  # may be sent again after a timeout, a cut connection or a 503


def _p(part: str) -> str:
    return quote(str(part), safe="")


def new_key() -> str:
    return uuid.uuid4().hex


def _score_body(action_type: str, value: int, user_id: str | None,
                metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"action_type": action_type, "score_increment": value}
    if user_id is not None:
        body["user_id"] = user_id
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return body


def update(action_type: str, value: int, *, user_id: str | None = None,
           metadata: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
           board: str | None = None) -> Call:
    """An update to every board the action feeds, or (``board``) to that one only. It
    always carries an Idempotency-Key, so it is always safe to send again."""
    path = "/api/v1/scores/update" if board is None else f"/api/v1/boards/{_p(board)}/scores"
    return Call("POST", path, _score_body(action_type, value, user_id, metadata),
                headers={"Idempotency-Key": idempotency_key or new_key()}, retry=True)


def batches(updates: Iterable[Mapping[str, Any]]) -> list[Call]:
    """Updates for players (a server key), in requests of at most MAX_BATCH; each item
    gets an ``idempotency_key`` if it has none, so a request sent again counts nothing
    twice."""
    items = []
    for u in updates:
        item = dict(u)
        item.setdefault("idempotency_key", new_key())
        items.append(item)
    return [Call("POST", "/api/v1/scores/batch", {"updates": items[i:i + MAX_BATCH]},
                 retry=True) for i in range(0, len(items), MAX_BATCH)]


def get(path: str, **params: Any) -> Call:
    return Call("GET", path, params={k: v for k, v in params.items() if v is not None},
                retry=True)


def board_path(board: str, tail: str = "") -> str:
    return f"/api/v1/boards/{_p(board)}{tail}"


def top10(board: str | None = None, season: int | None = None) -> Call:
    if board is None:
        return get("/api/v1/leaderboard/top10")
    return get(board_path(board, "/top10"), season=season)


def join(board: str, user_id: str | None = None) -> Call:
    body = {"user_id": user_id} if user_id is not None else None
    return Call("POST", board_path(board, "/join"), body, retry=True)  # joining twice: a no-op


def write(method: str, path: str, body: Any = None) -> Call:
    """An admin write: sent once (a create sent again would meet itself)."""
    return Call(method, path, body)
