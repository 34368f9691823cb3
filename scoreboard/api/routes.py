"""Every route of the service, in one place (how they are registered and matched:
``routing.py``)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from .handlers import (
    admin,
    auth,
    boards,
    console,
    flags,
    health,
    leaderboard,
    page,
    scores,
    ws,
)
from .routing import add, finish

__all__ = ["add", "setup_routes"]


def setup_routes(app: web.Application) -> None:
    def get(path: str, handler: Handler) -> None:
        add(app, "GET", path, handler)

    def post(path: str, handler: Handler) -> None:
        add(app, "POST", path, handler)

    post("/api/v1/scores/update", scores.update_score)
    post("/api/v1/scores/batch", scores.batch)
    add(app, "GET", "/api/v1/leaderboard/top10", leaderboard.top10, fast=leaderboard.top10_now)
    get("/api/v1/leaderboard/me", leaderboard.me)
    get("/api/v1/leaderboard", leaderboard.page)
    get("/api/v1/users/{id}/rank", leaderboard.user_rank)
    post("/api/v1/auth/refresh", auth.refresh)
    post("/api/v1/auth/logout", auth.logout)
    post("/api/v1/admin/users", admin.create_user)
    get("/api/v1/admin/users", console.users)
    get("/api/v1/admin/audit", console.audit)
    get("/api/v1/admin/summary", console.summary)
    post("/api/v1/admin/users/{id}/ban", admin.ban)
    post("/api/v1/admin/users/{id}/unban", admin.unban)
    # aiohttp tries the routes under /api/v1/boards in this order: the hot ones first
    add(app, "GET", "/api/v1/boards/{board}/top10", boards.top10, fast=boards.top10_now)
    post("/api/v1/boards/{board}/scores", boards.post_score)
    get("/api/v1/boards", boards.list_boards)
    get("/api/v1/boards/{board}", boards.get_board)
    get("/api/v1/boards/{board}/leaderboard", boards.page)
    get("/api/v1/boards/{board}/me", boards.me)
    get("/api/v1/boards/{board}/users/{id}/rank", boards.user_rank)
    get("/api/v1/boards/{board}/ranks", boards.ranks)
    get("/api/v1/boards/{board}/seasons", boards.seasons)
    get("/api/v1/boards/{board}/buckets/{bucket}", boards.bucket)
    post("/api/v1/boards/{board}/join", boards.join)
    post("/api/v1/admin/boards", admin.create_board)
    add(app, "PATCH", "/api/v1/admin/boards/{board}", admin.change_board)
    add(app, "DELETE", "/api/v1/admin/boards/{board}", admin.retire_board)
    post("/api/v1/admin/boards/{board}/reset", admin.reset_board)
    post("/api/v1/admin/keys", admin.create_key)
    get("/api/v1/admin/keys", admin.list_keys)
    add(app, "DELETE", "/api/v1/admin/keys/{id}", admin.revoke_key)
    get("/api/v1/admin/flags", flags.list_flags)
    post("/api/v1/admin/flags/{id}/resolve", flags.resolve_flag)
    get("/api/v1/admin/users/{id}/events", flags.user_events)
    get("/ws/leaderboard", ws.leaderboard_ws)
    get("/healthz", health.healthz)
    get("/readyz", health.readyz)
    get("/metrics", health.metrics_view)
    get("/api/v1/openapi.json", health.openapi_json)
    get("/", page.index)
    get("/admin", console.page)
    get("/static/{path:.+}", page.static)
    finish(app)
