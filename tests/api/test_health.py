"""Liveness and readiness against real servers, including Redis going away and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


async def test_unhandled_errors_are_a_generic_500(aiohttp_client: Any, config: Any,
                                                  redis: Any, pool: Any,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from aiohttp import web

    from scoreboard.api.routes import add
    from scoreboard.app import create_app

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals: /etc/passwd")

    app = create_app(config)
    add(app, "GET", "/boom", boom)
    client = await aiohttp_client(app)
    resp = await client.get("/boom")
    assert resp.status == 500
    assert await resp.json() == {"success": False, "error": {
        "code": "INTERNAL_ERROR", "message": "Internal server error"}}
    assert resp.headers["X-Request-Id"]
    # the cause is in the log, not in the answer
    logged = [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
    assert logged and logged[0].exc_info is not None
