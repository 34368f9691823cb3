"""The board routes' matcher (api/routes.py SegmentResource) against aiohttp's own
regex matcher for the same templates: the same paths match, with the same values."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_urldispatcher import DynamicResource
from hypothesis import given, settings
from hypothesis import strategies as st

from scoreboard.api.routes import SegmentResource, setup_routes

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
