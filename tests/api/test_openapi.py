"""The OpenAPI document: valid OpenAPI 3, matching the live routes, and schemathesis-clean."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from scoreboard import appkeys
from scoreboard.api import openapi
from scoreboard.api.routing import BoardPath
from scoreboard.app import create_app
from scoreboard.auth.tokens import mint
from scoreboard.players import users
from scoreboard.settings import Config
from tests.support import serve, wait_ready


def test_document_is_valid_openapi_3() -> None:
    doc = openapi.document(create_app(Config()).router.routes())
    validate(doc)
    assert doc["openapi"].startswith("3.")
    # the request bodies come from the schemas that validate
    schemas = doc["components"]["schemas"]
    assert set(schemas["UpdateScoreSchema"]["properties"]) == {
        "action_type", "score_increment", "metadata"}
    assert schemas["UpdateScoreSchema"]["additionalProperties"] is False
    # a server key's update names the player; a batch's items may carry their own key
    assert schemas["KeyUpdateSchema"]["required"] == ["action_type", "score_increment",
                                                      "user_id"]
    assert "idempotency_key" in schemas["BatchItemSchema"]["properties"]
    # both ways to authenticate are documented, and which routes take a key
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "serverKey"}
    update = doc["paths"]["/api/v1/scores/update"]["post"]
    assert update["security"] == [{"bearer": []}, {"serverKey": []}]
    assert doc["paths"]["/api/v1/scores/batch"]["post"]["security"] == [{"serverKey": []}]
    assert doc["paths"]["/api/v1/admin/keys"]["post"]["security"] == [{"bearer": []}]


async def test_document_matches_live_routes(client: Any) -> None:
    live, shortcuts = set(), set()
    for route in client.app.router.routes():
        info = route.get_info()
        path = info.get("path") or info.get("formatter")
        if route.method in ("HEAD", "*") or path is None or path.startswith("/static"):
            continue
        if isinstance(route.resource, BoardPath):  # a live board's own path to a template
            shortcuts.add((route.method.lower(), route.resource.template))
            continue
        live.add((route.method.lower(), path))
    assert shortcuts == {("get", "/api/v1/boards/{board}/top10")}  # `global`'s, at least
    assert shortcuts <= live
    paths = openapi.paths(client.app.router.routes())  # the routes whose views say what they do
    documented = {(method, path) for path, ops in paths.items() for method in ops}
    assert live == documented
    served = await (await client.get("/api/v1/openapi.json")).json()
    assert set(served["paths"]) == set(paths)
    action = served["components"]["schemas"]["UpdateScoreSchema"]["properties"]["action_type"]
    assert set(action["enum"]) == set(client.app[appkeys.CONFIG].actions)
    validate(served)


@pytest.mark.timeout(600)
async def test_schemathesis_finds_nothing(config: Config, pool: Any, redis: Any,
                                          tmp_path: Path) -> None:
    admin = await users.create(pool, redis, "st_admin", "st_admin@x.io", None)
    token = mint(config, admin["id"], admin=True)
    with serve(config, tmp_path) as (_, base):
        await wait_ready(base)
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "schemathesis.cli", "run", f"{base}/api/v1/openapi.json",
             "--checks", "not_a_server_error,status_code_conformance,"
             "content_type_conformance,response_schema_conformance",
             "-H", f"Authorization: Bearer {token}",
             "--exclude-path", "/ws/leaderboard",
             "--exclude-path", "/api/v1/auth/logout",  # would end the session under test
             "--exclude-path", "/api/v1/auth/refresh",
             "--max-examples", "25", "--seed", "1", "--request-timeout", "10"],
            capture_output=True, text=True, timeout=540, env={**os.environ, "NO_COLOR": "1"},
        )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_the_document_states_the_limits_the_service_enforces() -> None:
    """Clients generated from the document refuse what the service refuses."""
    doc = openapi.document(create_app(Config()).router.routes())
    params = [(path, p) for path, ops in doc["paths"].items() for op in ops.values()
              for p in op.get("parameters", [])]
    seasons = [p["schema"] for _, p in params if p["name"] == "season"]
    assert seasons and all(s["maximum"] == 2**31 - 1 and s["minimum"] == 1 for s in seasons)
    boards = [p["schema"] for _, p in params if p["name"] == "board"]
    assert boards and all(s["pattern"] == "^[a-z0-9][a-z0-9_-]{0,63}$" for s in boards)
    keys = [p["schema"] for _, p in params if p["name"] == "Idempotency-Key"]
    assert len(keys) == 2 and all(k["pattern"] == "^[ -~]+$" and k["maxLength"] == 128
                                  for k in keys)
    (friends,) = [p for _, p in params if p["name"] == "user_ids"]
    assert (friends["style"], friends["explode"]) == ("form", False)
    assert friends["schema"]["items"]["format"] == "uuid"
    assert (friends["schema"]["minItems"], friends["schema"]["maxItems"]) == (1, 100)
    user = doc["components"]["schemas"]["CreateUserSchema"]["properties"]
    assert user["avatar_url"]["format"] == "uri"
    (limit,) = [p["schema"] for path, p in params
                if path.endswith("/seasons") and p["name"] == "limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, 100)
