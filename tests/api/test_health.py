"""Liveness and readiness against real servers, including Redis going away and back."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scoreboard.obs.logs import AccessLogger, JsonFormatter
from scoreboard.testing.servers import RedisServer
from tests.support import eventually


async def wait_for_status(client: Any, path: str, status: int) -> Any:
    async def check() -> Any:
        resp = await client.get(path)
        return await resp.json() if resp.status == status else None

    return await eventually(check, what=f"{path} answering {status}")


async def test_healthz(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json())["success"] is True


async def test_readyz_follows_redis(make_client: Any, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r")
    server.start()
    try:
        client = await make_client(redis_url=server.url)
        body = await wait_for_status(client, "/readyz", 200)
        assert body["data"]["checks"] == {"redis": "ok", "postgres": "ok"}

        server.stop()
        body = await wait_for_status(client, "/readyz", 503)
        assert body["success"] is False
        assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert body["error"]["fields"]["checks"] == {"redis": "down", "postgres": "ok"}
        assert "redis" in body["error"]["message"]

        server.start()  # same port
        await wait_for_status(client, "/readyz", 200)
    finally:
        server.stop()


async def test_unknown_route_is_an_envelope(client: Any) -> None:
    resp = await client.get("/api/v1/nope")
    assert resp.status == 404
    body = await resp.json()
    assert body["error"]["code"] == "NOT_FOUND"
    resp = await client.delete("/api/v1/scores/update")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert resp.headers["Allow"] == "POST"
    resp = await client.post("/api/v1/boards/b1/top10")  # a path with a variable part
    assert resp.status == 405 and set(resp.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert resp.headers["X-Request-Id"]
    # counted under one label, never the raw path
    metrics = await (await client.get("/metrics")).text()
    assert any(m.startswith("scoreboard_http_requests_total{") and 'route="unmatched"' in m
               and 'status="404"' in m for m in metrics.splitlines())
    assert "/api/v1/nope" not in metrics


async def test_missing_static_file_is_a_404_envelope_and_counted_so(client: Any) -> None:
    resp = await client.get("/static/missing.js")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NOT_FOUND"
    for escape in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/avatars"):
        assert (await client.get(escape)).status == 404, escape
    ok = await client.get("/static/app.js")
    assert ok.status == 200 and "javascript" in ok.headers["Content-Type"]
    metrics = await (await client.get("/metrics")).text()
    line = next(m for m in metrics.splitlines() if m.startswith("scoreboard_http_requests_total{")
                and "/static/" in m and 'status="404"' in m)
    assert float(line.rsplit(" ", 1)[1]) >= 1


async def test_headers_say_little_and_protect_the_page(client: Any) -> None:
    for path in ("/", "/healthz", "/api/v1/nope"):
        resp = await client.get(path)
        assert resp.headers["Server"] == "scoreboard", path  # no framework or version
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
    page = await client.get("/")
    assert page.headers["X-Frame-Options"] == "DENY"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


async def test_a_body_of_unknown_fields_gets_a_short_error(client: Any, make_player: Any) -> None:
    _, token = await make_player()
    body = {f"f{i:05d}": 1 for i in range(4000)}  # about 50 KB, under the size limit
    resp = await client.post("/api/v1/scores/update", json=body,
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 400
    text = await resp.text()
    assert len(text) < 4096, len(text)  # not one line per field
    fields = (await resp.json())["error"]["fields"]
    assert "action_type" in fields and "score_increment" in fields  # the real problems first


async def test_unhandled_errors_are_a_generic_500(aiohttp_server: Any, aiohttp_client: Any,
                                                  config: Any,
                                                  redis: Any, pool: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp import web

    from scoreboard.api.routes import add
    from scoreboard.app import create_app

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals: /etc/passwd")

    app = create_app(config)
    add(app, "GET", "/boom", boom)
    client = await aiohttp_client(await aiohttp_server(app, access_log_class=AccessLogger))
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    resp = await client.get("/boom")
    assert resp.status == 500
    assert await resp.json() == {"success": False, "error": {
        "code": "INTERNAL_ERROR", "message": "Internal server error"}}
    assert resp.headers["X-Request-Id"]
    # the cause is in the log, not in the answer; the answer names the log's lines
    logged = [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
    assert logged and logged[0].exc_info is not None
    access = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert [r.request_id for r in access] == [resp.headers["X-Request-Id"]]


async def test_request_ids_come_back_and_name_access_lines(
        client: Any, caplog: pytest.LogCaptureFixture) -> None:
    # the caller's id comes back, whatever the answer
    resp = await client.get("/healthz", headers={"X-Request-Id": "game-7f3a"})
    assert resp.headers["X-Request-Id"] == "game-7f3a"
    resp = await client.get("/api/v1/nope", headers={"X-Request-Id": "game-7f3b"})
    assert resp.status == 404 and resp.headers["X-Request-Id"] == "game-7f3b"
    # one that is not sane is replaced, as is none
    resp = await client.get("/healthz", headers={"X-Request-Id": "x" * 65})
    assert resp.headers["X-Request-Id"] not in ("", "x" * 65)
    assert (await client.get("/healthz")).headers["X-Request-Id"]
    # every request logged (LOG_LEVEL=DEBUG): each answer names its own line (aiohttp asks
    # the access logger whether it is on when a connection opens: new ones here)
    caplog.set_level(logging.DEBUG, logger="aiohttp.access")
    ids = []
    for _ in range(2):
        async with aiohttp.ClientSession() as fresh:
            async with fresh.get(client.make_url("/healthz")) as resp:
                ids.append(resp.headers["X-Request-Id"])
    assert ids[0] != ids[1]
    logged = [getattr(r, "request_id", None) for r in caplog.records if r.name == "aiohttp.access"]
    assert set(ids) <= set(logged)


async def test_a_line_logged_inside_a_request_gets_its_id(aiohttp_client: Any, config: Any,
                                                          redis: Any, pool: Any) -> None:
    from aiohttp import web

    from scoreboard.api.routes import add
    from scoreboard.app import create_app

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("scoreboard.test.inside")
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    async def noted(request: web.Request) -> web.Response:
        log.info("noted")
        log.info("noted again")
        return web.Response(text="ok")

    app = create_app(config)
    add(app, "GET", "/noted", noted)
    client = await aiohttp_client(app)
    try:
        resp = await client.get("/noted")
        rid = resp.headers["X-Request-Id"]
        assert [json.loads(line)["request_id"] for line in lines] == [rid, rid]
        lines.clear()
        resp = await client.get("/noted", headers={"X-Request-Id": "game-1"})
        assert resp.headers["X-Request-Id"] == "game-1"
        assert [json.loads(line)["request_id"] for line in lines] == ["game-1", "game-1"]
    finally:
        log.removeHandler(handler)
