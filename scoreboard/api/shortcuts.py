"""Each board live when the process starts gets a path of its own to its hot read.

aiohttp's router looks a request's path up whole first, then one segment shorter at
a time. The seed's ``/api/v1/leaderboard/top10`` is found by the first lookup;
``/api/v1/boards/b1/top10`` by the third, at ``/api/v1/boards``, after two misses
and the template's match: about 7.5k instructions more per request
(bench.instructions), a twentieth of a cached top 10's cost. A ``BoardPath`` for
``/api/v1/boards/b1/top10`` is found by the first lookup.

It is a shortcut, not a route of its own: it carries the template's routes (the same
handlers behind the same layer, counted under the template in the metrics), gives
them the same ``board`` the template would, and is left out of the OpenAPI document
and of the 404/405 answer's search. aiohttp takes routes only until the app starts,
so a board created later (here or by another process) is read through the template
until the process starts again: the same answers, at the template's cost. A board
retired later keeps its path, whose handler answers 404 as the template's would.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from aiohttp.web_urldispatcher import PlainResource

from ..board.definitions import ID_PATTERN

TEMPLATES = ("/api/v1/boards/{board}/top10",)  # the reads worth a path per board
MAX_BOARDS = 1000  # the first this many live boards by id get one


class BoardPath(PlainResource):
    """``template`` with one board's id in it; matches that path only."""

    def __init__(self, template: str, board_id: str) -> None:
        super().__init__(template.replace("{board}", board_id))
        self.template = template
        self._values = {"board": board_id}

    def _match(self, path: str) -> dict[str, str] | None:
        return dict(self._values) if path == self._path else None


def add_board_paths(app: web.Application, board_ids: Iterable[str]) -> int:
    """A ``BoardPath`` per template for each of ``board_ids`` (the first
    ``MAX_BOARDS`` by id) that is a well-formed id; the number added. Nothing once
    the router is frozen."""
    router = app.router
    if router.frozen:
        return 0
    ids = [b for b in sorted(board_ids)[:MAX_BOARDS] if ID_PATTERN.match(b)]
    added = 0
    for template in TEMPLATES:
        general = next(r for r in router.resources() if r.canonical == template)
        for board_id in ids:
            resource = BoardPath(template, board_id)
            router.register_resource(resource)
            for route in general:
                resource.add_route(route.method, route.handler)
            added += 1
    return added
