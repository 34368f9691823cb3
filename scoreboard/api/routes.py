"""Every route of the service, in one place; each handler behind the envelope layer."""

from __future__ import annotations

import re

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import DynamicResource

from .handlers import admin, auth, boards, health, leaderboard, page, scores, ws
from .middleware import UNMATCHED, served, unmatched

# a template with one variable that is a whole segment and has no pattern of its own
_ONE_SEGMENT = re.compile(r"(?P<head>[^{}]*/)\{(?P<var>[_a-zA-Z][_a-zA-Z0-9]*)\}"
                          r"(?P<tail>(/[^{}]*)?)")


class SegmentResource(DynamicResource):
    """A dynamic route such as ``/api/v1/boards/{board}/top10``, matched by comparing the
    literal text around its one variable instead of running the route's regex.

    Every request under ``/api/v1/boards/`` tries these routes in turn; the regex, its
    group dict and aiohttp's unquoting of the value cost a board request about 2k
    instructions (bench.instructions) of the 10k its routing costs beyond the
    seed's plain route. The match is aiohttp's, to the letter
    (tests/unit/test_routes.py holds the two side by side): the value is one segment,
    not empty, without ``{`` or ``}``, and ``%2F``/``%25`` in it are unquoted.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        parts = _ONE_SEGMENT.fullmatch(path)
        if parts is None:
            raise ValueError(f"not a one-variable template: {path!r}")
        self._head, self._var, self._tail = parts["head"], parts["var"], parts["tail"]
        self._lo, self._cut = len(self._head), len(self._tail)

    @staticmethod
    def fits(path: str) -> bool:
        return _ONE_SEGMENT.fullmatch(path) is not None

    def _match(self, path: str) -> dict[str, str] | None:
        if not (path.startswith(self._head) and path.endswith(self._tail)):
            return None
        value = path[self._lo:len(path) - self._cut]
        if not value or "/" in value or "{" in value or "}" in value:
            return None
        if "%" in value:
            value = value.replace("%2F", "/").replace("%25", "%")
        return {self._var: value}


def add(app: web.Application, method: str, path: str, handler: Handler) -> None:
    """One route, its handler behind the layer (a GET answers HEAD too)."""
    # the metrics' route label: the template as aiohttp spells it ({path:.+} -> {path})
    route = DynamicResource(path).canonical if "{" in path else path
    wrapped = served(handler, route)
    if not SegmentResource.fits(path):
        if method == "GET":
            app.router.add_get(path, wrapped)
        else:
            app.router.add_route(method, path, wrapped)
        return
    resource = next((r for r in app.router.resources()
                     if isinstance(r, SegmentResource) and r.raw_match(path)), None)
    if resource is None:
        resource = SegmentResource(path)
        app.router.register_resource(resource)
    if method == "GET":
        resource.add_route(hdrs.METH_HEAD, wrapped)
    resource.add_route(method, wrapped)


def setup_routes(app: web.Application) -> None:
    def get(path: str, handler: Handler) -> None:
        add(app, "GET", path, handler)

    def post(path: str, handler: Handler) -> None:
        add(app, "POST", path, handler)

    post("/api/v1/scores/update", scores.update_score)
    get("/api/v1/leaderboard/top10", leaderboard.top10)
    get("/api/v1/leaderboard/me", leaderboard.me)
    get("/api/v1/leaderboard", leaderboard.page)
    get("/api/v1/users/{id}/rank", leaderboard.user_rank)
    post("/api/v1/auth/refresh", auth.refresh)
    post("/api/v1/auth/logout", auth.logout)
    post("/api/v1/admin/users", admin.create_user)
    post("/api/v1/admin/users/{id}/ban", admin.ban)
    post("/api/v1/admin/users/{id}/unban", admin.unban)
    # aiohttp tries the routes under /api/v1/boards in this order: the hot ones first
    get("/api/v1/boards/{board}/top10", boards.top10)
    post("/api/v1/boards/{board}/scores", boards.post_score)
    get("/api/v1/boards", boards.list_boards)
    get("/api/v1/boards/{board}", boards.get_board)
    get("/api/v1/boards/{board}/leaderboard", boards.page)
    get("/api/v1/boards/{board}/me", boards.me)
    get("/api/v1/boards/{board}/users/{id}/rank", boards.user_rank)
    get("/api/v1/boards/{board}/ranks", boards.ranks)
    get("/api/v1/boards/{board}/seasons", boards.seasons)
    post("/api/v1/admin/boards", admin.create_board)
    add(app, "PATCH", "/api/v1/admin/boards/{board}", admin.change_board)
    add(app, "DELETE", "/api/v1/admin/boards/{board}", admin.retire_board)
    post("/api/v1/admin/boards/{board}/reset", admin.reset_board)
    get("/ws/leaderboard", ws.leaderboard_ws)
    get("/healthz", health.healthz)
    get("/readyz", health.readyz)
    get("/metrics", health.metrics_view)
    get("/api/v1/openapi.json", health.openapi_json)
    get("/", page.index)
    get("/static/{path:.+}", page.static)
    # whatever no route above takes: 404 or 405 in the envelope (routes added later
    # under a path of their own are still found first: aiohttp tries the most
    # specific path before this one)
    app.router.add_route("*", UNMATCHED, served(unmatched, "unmatched"))
