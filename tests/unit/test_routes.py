"""The board routes' matcher (api/routing.py SegmentResource) against aiohttp's own
regex matcher for the same templates: the same paths match, with the same values."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import DynamicResource
from hypothesis import given, settings
from hypothesis import strategies as st

from scoreboard.api.routes import setup_routes
from scoreboard.api.routing import (
    UNMATCHED_CANONICAL,
    BoardPath,
    SegmentResource,
    add_board_paths,
    unmatched,
)

TEMPLATES = ["/api/v1/boards/{board}/top10", "/api/v1/boards/{board}",
             "/api/v1/admin/users/{id}/ban", "/api/v1/boards/{board}/users"]
# what a path holds after yarl's path_safe: %2F and %25 stay quoted
PIECES = st.sampled_from(["b1", "global", "x", "", "/", "{", "}", "%2F", "%25", "%", "é",
                          "top10", "/top10", "boards", "-", "_", "a/b"])
SEGMENT = st.lists(PIECES, max_size=4).map("".join)


@pytest.mark.parametrize("template", TEMPLATES)
@settings(max_examples=300, deadline=None)
@given(value=SEGMENT, before=st.sampled_from(["", "/", "x", "/api/v1/boards"]),
       after=st.sampled_from(["", "/", "x", "/top10", "/top10/"]))
def test_matches_as_aiohttp_does(template: str, value: str, before: str, after: str) -> None:
    ours, theirs = SegmentResource(template), DynamicResource(template)
    head, _, rest = template.partition("{")
    tail = rest.partition("}")[2]
    for path in (head + value + tail, before + head + value + tail + after,
                 head + value + after, head[:-1] + value + tail):
        assert ours._match(path) == theirs._match(path), path


def test_unquotes_as_aiohttp_does() -> None:
    resource = SegmentResource("/api/v1/boards/{board}/top10")
    assert resource._match("/api/v1/boards/a%2Fb%25c/top10") == {"board": "a/b%c"}
    assert resource._match("/api/v1/boards/b1/top10") == {"board": "b1"}
    assert resource._match("/api/v1/boards//top10") is None
    assert resource._match("/api/v1/boards/top10") is None


def test_refuses_other_templates() -> None:
    for template in ("/api/v1/boards/{board}/users/{id}/rank", "/static/{path:.+}",
                     "/api/v1/x{board}", "/plain"):
        assert not SegmentResource.fits(template)
        with pytest.raises(ValueError):
            SegmentResource(template)


async def test_the_service_routes_resolve_through_it() -> None:
    app = web.Application()
    setup_routes(app)
    resources = {r.canonical: r for r in app.router.resources()}
    assert type(resources["/api/v1/boards/{board}/top10"]) is SegmentResource
    assert type(resources["/api/v1/boards/{board}/users/{id}/rank"]) is DynamicResource
    admin = resources["/api/v1/admin/boards/{board}"]  # PATCH and DELETE share one
    assert type(admin) is SegmentResource
    assert {route.method for route in admin} == {"PATCH", "DELETE"}
    app.router.freeze()
    request = make_mocked_request("GET", "/api/v1/boards/b%2F1/top10", app=app)
    info = await app.router.resolve(request)
    assert info.route.resource is resources["/api/v1/boards/{board}/top10"]
    assert info["board"] == "b/1"


async def test_a_boards_own_path_resolves_as_its_template_would() -> None:
    """api/routing.py: a board's own path is found first and gives the template's
    handlers the same match; any other board, and any other method, resolve as before."""
    app = web.Application()
    setup_routes(app)
    assert add_board_paths(app, ["b1", "global", "a/b", ""]) == 2  # no path for the odd ids
    app.router.freeze()
    assert add_board_paths(app, ["b2"]) == 0  # a started app takes no routes
    template = next(r for r in app.router.resources()
                    if r.canonical == "/api/v1/boards/{board}/top10")

    async def resolve(method: str, path: str) -> Any:
        return await app.router.resolve(make_mocked_request(method, path, app=app))

    own = await resolve("GET", "/api/v1/boards/b1/top10")
    assert type(own.route.resource) is BoardPath and dict(own) == {"board": "b1"}
    assert own.route.handler is next(r.handler for r in template if r.method == "GET")
    assert type((await resolve("HEAD", "/api/v1/boards/b1/top10")).route.resource) is BoardPath
    other = await resolve("GET", "/api/v1/boards/b2/top10")
    assert other.route.resource is template and dict(other) == {"board": "b2"}
    for board in ("b1", "b2"):  # the same 405 for a board with a path and one without
        path = f"/api/v1/boards/{board}/top10"
        assert (await resolve("POST", path)).route.resource.canonical == UNMATCHED_CANONICAL
        with pytest.raises(web.HTTPMethodNotAllowed) as refused:
            await unmatched(make_mocked_request("POST", path, app=app))
        assert refused.value.allowed_methods == {"GET", "HEAD"}
    assert type((await resolve("GET", "/api/v1/boards/b1/top10/")).route.resource) \
        is not BoardPath
