"""The layer in front of every handler (api/middleware.py) with a handler's synchronous
first try (a route's ``fast``): what it answers goes out through the whole layer, None
falls through to the handler, and what it raises becomes the envelope."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from scoreboard import errors
from scoreboard.api.routes import add
from scoreboard.obs import metrics
from scoreboard.obs.logs import REQUEST_ID


def _app(answer: Any, ran: list[str]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        ran.append(request.path)
        return web.json_response({"from": "handler"})

    app = web.Application()
    add(app, "GET", "/thing", handler, fast=answer)
    add(app, "GET", "/things/{board}", handler, fast=answer)  # the board routes' resource
    return app


async def test_an_answer_skips_the_handler_and_passes_the_layer(aiohttp_client: Any) -> None:
    ran: list[str] = []
    client = await aiohttp_client(_app(lambda r: web.json_response({"from": "fast"}), ran))
    before = metrics.TALLY._rows.get(("GET", "/thing", 200), [0])[0]
    for path in ("/thing", "/things/b1"):
        resp = await client.get(path, headers={"X-Request-Id": "game-1"})
        assert resp.status == 200 and await resp.json() == {"from": "fast"}
        assert resp.headers["X-Request-Id"] == "game-1"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert ran == []
    assert metrics.TALLY._rows[("GET", "/thing", 200)][0] == before + 1
    head = await client.head("/thing")
    assert head.status == 200 and ran == []


async def test_none_falls_through_to_the_handler(aiohttp_client: Any) -> None:
    ran: list[str] = []
    client = await aiohttp_client(_app(lambda r: None, ran))
    resp = await client.get("/things/b1")
    assert await resp.json() == {"from": "handler"} and resp.headers["X-Request-Id"]
    assert ran == ["/things/b1"]


async def test_what_it_raises_becomes_the_envelope(aiohttp_client: Any) -> None:
    def refuse(request: web.Request) -> web.Response:
        raise errors.NotFound("no such thing")

    ran: list[str] = []
    client = await aiohttp_client(_app(refuse, ran))
    resp = await client.get("/thing")
    assert resp.status == 404 and ran == []
    body = await resp.json()
    assert body["success"] is False and body["error"]["message"] == "no such thing"


async def test_the_handler_and_an_error_line_know_the_request_id(aiohttp_client: Any) -> None:
    """A fast path's answer skips setting the id for log lines (it logs nothing); the
    handler it falls through to, and the line of an error it raises, still have it."""
    def answer(request: web.Request) -> None:
        if request.path == "/thing":
            raise RuntimeError("broken")
        return None

    ids: list[str] = []

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            ids.append(REQUEST_ID.get())

    async def handler(request: web.Request) -> web.Response:
        ids.append(REQUEST_ID.get())
        return web.json_response({})

    app = web.Application()
    add(app, "GET", "/thing", handler, fast=answer)
    add(app, "GET", "/other", handler, fast=answer)
    client = await aiohttp_client(app)
    seen, layer_log = Seen(), logging.getLogger("scoreboard.api.middleware")
    layer_log.addHandler(seen)
    try:
        assert (await client.get("/other", headers={"X-Request-Id": "game-1"})).status == 200
        resp = await client.get("/thing", headers={"X-Request-Id": "game-2"})
    finally:
        layer_log.removeHandler(seen)
    assert resp.status == 500
    assert ids == ["game-1", "game-2"]
