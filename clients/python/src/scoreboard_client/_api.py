"""The endpoints, as calls: one list both clients are built from (``client.py``,
``aio.py``), so the two cannot drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import calls
from .calls import board_path, get, write


def update(action_type: str, value: int, user_id: str | None = None,
           metadata: Mapping[str, Any] | None = None,
           idempotency_key: str | None = None) -> calls.Call:
    return calls.update(action_type, value, user_id=user_id, metadata=metadata,
                        idempotency_key=idempotency_key)


def board_score(board: str, action_type: str, value: int, user_id: str | None = None,
                metadata: Mapping[str, Any] | None = None,
                idempotency_key: str | None = None) -> calls.Call:
    return calls.update(action_type, value, user_id=user_id, metadata=metadata,
                        idempotency_key=idempotency_key, board=board)


def leaderboard(board: str | None, offset: int, limit: int, season: int | None) -> calls.Call:
    if board is None:
        return get("/api/v1/leaderboard", offset=offset, limit=limit)
    return get(board_path(board, "/leaderboard"), offset=offset, limit=limit, season=season)


def me(board: str | None, window: int) -> calls.Call:
    if board is None:
        return get("/api/v1/leaderboard/me", window=window)
    return get(board_path(board, "/me"), window=window)


def rank(user_id: str, board: str | None, season: int | None) -> calls.Call:
    if board is None:
        return get(f"/api/v1/users/{calls._p(user_id)}/rank")
    return get(board_path(board, f"/users/{calls._p(user_id)}/rank"), season=season)


def ranks(board: str, user_ids: list[str], season: int | None) -> calls.Call:
    return get(board_path(board, "/ranks"), user_ids=",".join(user_ids), season=season)


def seasons(board: str, limit: int | None, cursor: str | None) -> calls.Call:
    return get(board_path(board, "/seasons"), limit=limit, cursor=cursor)


def bucket(board: str, number: int, season: int | None) -> calls.Call:
    return get(board_path(board, f"/buckets/{int(number)}"), season=season)


def create_board(definition: Mapping[str, Any]) -> calls.Call:
    return write("POST", "/api/v1/admin/boards", dict(definition))


def change_board(board: str, changes: Mapping[str, Any]) -> calls.Call:
    return write("PATCH", f"/api/v1/admin/boards/{calls._p(board)}", dict(changes))


def create_user(username: str, email: str, avatar_url: str | None) -> calls.Call:
    return write("POST", "/api/v1/admin/users",
                 {"username": username, "email": email, "avatar_url": avatar_url})


def create_key(name: str, actions: list[str] | None) -> calls.Call:
    return write("POST", "/api/v1/admin/keys", {"name": name, "actions": actions})


def resolve_flag(flag_id: int | str, resolution: str) -> calls.Call:
    return write("POST", f"/api/v1/admin/flags/{calls._p(str(flag_id))}/resolve",
                 {"resolution": resolution})


def flags(status: str | None, limit: int | None, cursor: str | None) -> calls.Call:
    return get("/api/v1/admin/flags", status=status, limit=limit, cursor=cursor)


def admin_user(user_id: str, verb: str) -> calls.Call:
    """POST /api/v1/admin/users/{id}/ban or /unban."""
    return write("POST", f"/api/v1/admin/users/{calls._p(user_id)}/{verb}")


def reset_board(board: str) -> calls.Call:
    return write("POST", f"/api/v1/admin/boards/{calls._p(board)}/reset")


def delete_board(board: str) -> calls.Call:
    return write("DELETE", f"/api/v1/admin/boards/{calls._p(board)}")


def revoke_key(key_id: str) -> calls.Call:
    return write("DELETE", f"/api/v1/admin/keys/{calls._p(key_id)}")
