"""All the routing cleverness, in one module: how routes are registered and found.

- ``add``: every route's handler behind the one layer (``middleware.served``), with an
  optional synchronous first try (``fast``: a memo hit answered without a coroutine).
- ``SegmentResource``: a route with one whole-segment variable (the board routes) is
  matched by comparing the text around it, not by aiohttp's regex.
- ``BoardPath``: each board live when the process starts gets a path of its own to its
  hot read (``add_board_paths``, at startup).
- The catch-all (``UNMATCHED``): whatever no route takes gets 404, or 405 with
  ``Allow``, in the envelope.

``is_shortcut`` tells the rest of the service (the OpenAPI document, the 405 search)
which resources are shortcuts to other routes rather than routes of their own. Two of
these override aiohttp's private ``_match``; ``setup.cfg`` pins aiohttp's minor
version and tests/unit/test_routes.py holds both to aiohttp's own matching.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp.web_urldispatcher import AbstractResource, DynamicResource, PlainResource

from ..appkeys import BOARDS
from ..board.definitions import ID_PATTERN
from .middleware import FastPath, served

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


def add(app: web.Application, method: str, path: str, handler: Handler, *,
        fast: FastPath | None = None) -> None:
    """One route, its handler behind the layer (a GET answers HEAD too); ``fast``, the
    handler's synchronous first try (see ``middleware.served``)."""
    # the metrics' route label: the template as aiohttp spells it ({path:.+} -> {path})
    route = DynamicResource(path).canonical if "{" in path else path
    wrapped = served(handler, route, fast)
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



# Each board live when the process starts gets a path of its own to its hot read.
#
# aiohttp's router looks a request's path up whole first, then one segment shorter at
# a time. The seed's ``/api/v1/leaderboard/top10`` is found by the first lookup;
# ``/api/v1/boards/b1/top10`` by the third, at ``/api/v1/boards``, after two misses
# and the template's match: about 7.5k instructions more per request
# (bench.instructions), a twentieth of a cached top 10's cost. A ``BoardPath`` for
# ``/api/v1/boards/b1/top10`` is found by the first lookup.
#
# It is a shortcut, not a route of its own: it carries the template's routes (the same
# handlers behind the same layer, counted under the template in the metrics), gives
# them the same ``board`` the template would, and is left out of the OpenAPI document
# and of the 404/405 answer's search. aiohttp takes routes only until the app starts,
# so a board created later (here or by another process) is read through the template
# until the process starts again: the same answers, at the template's cost. A board
# retired later keeps its path, whose handler answers 404 as the template's would.
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


async def _board_paths_at_start(app: web.Application) -> None:
    """At startup: after the cleanup_ctx steps (the boards loaded), before aiohttp
    freezes the router."""
    boards = app.get(BOARDS)
    if boards is not None:
        add_board_paths(app, boards.by_id)


def add_board_paths(app: web.Application, board_ids: Iterable[str]) -> int:
    """A ``BoardPath`` per template for each of ``board_ids`` (the first
    ``MAX_BOARDS`` by id) that is a well-formed id; the number added. Nothing once
    the router is frozen."""
    router = app.router
    if router.frozen:
        return 0
    ids = [b for b in sorted(board_ids)[:MAX_BOARDS] if ID_PATTERN.fullmatch(b)]
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


UNMATCHED = "/{unmatched:.*}"  # the last route: aiohttp tries it after every other


async def unmatched(request: web.Request) -> web.StreamResponse:
    """404, or 405 with ``Allow`` when another route has this path for other methods."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        # a board's own path is a shortcut to a template's routes, tried there too
        if not is_shortcut(resource):
            _, methods = await resource.resolve(request)
            allowed |= methods
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()



UNMATCHED_CANONICAL = "/{unmatched}"  # the catch-all's, as aiohttp spells it


def is_shortcut(resource: AbstractResource | None) -> bool:
    """A resource that is no route of its own: a board's own path (a shortcut to its
    template's routes) or the catch-all."""
    return isinstance(resource, BoardPath) or (
        resource is not None and resource.canonical == UNMATCHED_CANONICAL)


def finish(app: web.Application) -> None:
    """After the route table: the catch-all, last (routes added later under a path of
    their own are still found first: aiohttp tries the most specific path before it),
    and the boards' own paths at startup."""
    app.router.add_route("*", UNMATCHED, served(unmatched, "unmatched"))
    app.on_startup.append(_board_paths_at_start)
