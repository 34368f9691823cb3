"""Every route of the service, in one place."""

from __future__ import annotations

from aiohttp import web

from .handlers import admin, auth, boards, health, leaderboard, page, scores, ws


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/v1/scores/update", scores.update_score)
    r.add_get("/api/v1/leaderboard/top10", leaderboard.top10)
    r.add_get("/api/v1/leaderboard/me", leaderboard.me)
    r.add_get("/api/v1/leaderboard", leaderboard.page)
    r.add_get("/api/v1/users/{id}/rank", leaderboard.user_rank)
    r.add_post("/api/v1/auth/refresh", auth.refresh)
    r.add_post("/api/v1/auth/logout", auth.logout)
    r.add_post("/api/v1/admin/users", admin.create_user)
    r.add_post("/api/v1/admin/users/{id}/ban", admin.ban)
    r.add_post("/api/v1/admin/users/{id}/unban", admin.unban)
    # aiohttp tries the routes under /api/v1/boards in this order: the hot ones first
    r.add_get("/api/v1/boards/{board}/top10", boards.top10)
    r.add_post("/api/v1/boards/{board}/scores", boards.post_score)
    r.add_get("/api/v1/boards", boards.list_boards)
    r.add_get("/api/v1/boards/{board}", boards.get_board)
    r.add_get("/api/v1/boards/{board}/leaderboard", boards.page)
    r.add_get("/api/v1/boards/{board}/me", boards.me)
    r.add_get("/api/v1/boards/{board}/users/{id}/rank", boards.user_rank)
    r.add_get("/api/v1/boards/{board}/ranks", boards.ranks)
    r.add_get("/api/v1/boards/{board}/seasons", boards.seasons)
    r.add_post("/api/v1/admin/boards", admin.create_board)
    r.add_patch("/api/v1/admin/boards/{board}", admin.change_board)
    r.add_delete("/api/v1/admin/boards/{board}", admin.retire_board)
    r.add_post("/api/v1/admin/boards/{board}/reset", admin.reset_board)
    r.add_get("/ws/leaderboard", ws.leaderboard_ws)
    r.add_get("/healthz", health.healthz)
    r.add_get("/readyz", health.readyz)
    r.add_get("/metrics", health.metrics_view)
    r.add_get("/api/v1/openapi.json", health.openapi_json)
    r.add_get("/", page.index)
    r.add_get("/static/{path:.+}", page.static)
