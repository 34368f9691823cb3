"""Batches and authoritative boards (DESIGN "Trusted writes: game servers"): each item of
a batch applied as if alone, and boards that take scores from server keys only; against
a real Redis and a real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from tests.api.test_trusted import new_key, totals, write
from tests.support import bearer, call

ACTIONS = {"kill": Action("kill", 50, 10**6), "lap": Action("lap", 100_000, 10**6),
           "slow": Action("slow", 100, 1)}


@pytest.fixture(params=["batch", "direct"])
async def app_client(request: pytest.FixtureRequest, make_client: Any) -> Any:
    return await make_client(actions=ACTIONS, persist_mode=request.param)


def item(uid: str, value: int = 5, **more: Any) -> dict[str, Any]:
    return {"user_id": uid, "action_type": "kill", "score_increment": value, **more}


async def batch(client: Any, secret: str, updates: Any, status: int = 200) -> dict[str, Any]:
    return dict(await call(client, "POST", "/api/v1/scores/batch", status,
                           headers=bearer(secret), json={"updates": updates}))


async def test_each_item_is_applied_as_if_alone(app_client: Any, admin_token: str,
                                                make_player: Any, redis: Redis,
                                                pool: asyncpg.Pool) -> None:
    a, _ = await make_player()
    b, _ = await make_player()
    key = (await new_key(app_client, admin_token))["key"]
    results = (await batch(app_client, key, [
        item(a, 10),
        item(b, 20, metadata={"car": "red"}),
        item(a, 0),  # malformed
        "not an object",
        item(str(uuid.uuid4())),  # no such player
        item(b, 51),  # over the cap
        item(a, 7, action_type="slow"),
        item(a, 7, action_type="slow"),  # over the rate
        item(b, 1, surprise=True),  # unknown field
        item(a, 3),
    ]))["data"]["results"]
    assert [r["ok"] for r in results] == [True, True, False, False, False, False, True, False,
                                          False, True]
    assert [r["error"]["code"] for r in results if not r["ok"]] == [
        "VALIDATION_ERROR", "VALIDATION_ERROR", "NOT_FOUND", "SCORE_LIMIT_EXCEEDED",
        "RATE_LIMITED", "VALIDATION_ERROR"]
    assert "score_increment" in results[2]["error"]["message"]
    assert set(results[3]["error"]) == {"code", "message"}
    # each good item's data is what the same update posted alone answers
    assert results[0]["data"]["new_score"] == 10 and results[0]["data"]["user_id"] == a
    assert results[6]["data"]["new_score"] == 17
    assert results[9]["data"]["previous_score"] == 17 and results[9]["data"]["new_score"] == 20
    assert results[1]["data"]["boards"]["global"]["rank"] == 1
    assert await totals(redis, a) == 20 and await totals(redis, b) == 20
    app = app_client.server.app
    if app[appkeys.CONFIG].persist_mode == "batch":
        await app[appkeys.PERSISTER].flush()
    assert await pool.fetchval("SELECT count(*) FROM score_events") == 4


async def test_a_batch_replays_with_its_idempotency_keys(app_client: Any, admin_token: str,
                                                         make_player: Any,
                                                         redis: Redis) -> None:
    a, _ = await make_player()
    b, _ = await make_player()
    key = (await new_key(app_client, admin_token))["key"]
    updates = [item(a, 10, idempotency_key="m1-a"), item(b, 20, idempotency_key="m1-b")]
    first = (await batch(app_client, key, updates))["data"]["results"]
    again = (await batch(app_client, key, updates))["data"]["results"]
    assert again == first
    # the same key alone, through the single endpoint, is the same request
    one = await write(app_client, key, idem="m1-a", user_id=a, score_increment=10)
    assert one["data"] == first[0]["data"]
    changed = (await batch(app_client, key, [item(a, 11, idempotency_key="m1-a")]))
    assert changed["data"]["results"][0]["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await totals(redis, a) == 10 and await totals(redis, b) == 20


async def test_batch_size_and_body_limits(app_client: Any, admin_token: str,
                                          make_player: Any, redis: Redis) -> None:
    uid, token = await make_player()
    key = (await new_key(app_client, admin_token))["key"]
    for updates in ([], [item(uid)] * 101, "x", None):
        got = await batch(app_client, key, updates, 400)
        assert "updates" in got["error"]["fields"]
    got = await call(app_client, "POST", "/api/v1/scores/batch", 400, headers=bearer(key),
                     json={"updates": [item(uid)], "more": 1})
    assert "more" in got["error"]["fields"]
    big = [item(uid, metadata={"pad": "x" * 1000})] * 100
    ok = await batch(app_client, key, big)  # 100 items of 1 KiB metadata fit
    assert sum(r["ok"] for r in ok["data"]["results"]) == 100
    huge = [item(uid, metadata={"pad": "x" * 3000})] * 100
    got = await batch(app_client, key, huge, 413)
    assert got["error"]["code"] == "PAYLOAD_TOO_LARGE"
    got = await batch(app_client, token, [item(uid)], 403)  # a player's token
    assert got["error"]["code"] == "FORBIDDEN"
    await batch(app_client, "sbk_bad", [item(uid)], 401)
    assert await totals(redis, uid) == 500


async def test_an_authoritative_board_takes_server_keys_only(
        app_client: Any, admin_token: str, make_player: Any, redis: Redis) -> None:
    uid, token = await make_player()
    made = await call(app_client, "POST", "/api/v1/admin/boards", 201,
                      headers=bearer(admin_token),
                      json={"id": "laps", "title": "Laps", "actions": ["lap"], "order": "asc",
                            "operator": "best", "authoritative": True})
    assert made["data"]["authoritative"] is True
    # `lap` feeds global and laps: the player's own write is refused whole
    for path in ("/api/v1/scores/update", "/api/v1/boards/laps/scores"):
        got = await write(app_client, token, 403, path=path, action_type="lap",
                          score_increment=1)
        assert got["error"]["code"] == "FORBIDDEN" and "laps" in got["error"]["message"]
    assert await totals(redis, uid) is None
    assert await redis.zcard("{lb}:b:laps:scores") == 0
    # a player's write of an action that feeds no authoritative board still counts
    await write(app_client, token)
    key = (await new_key(app_client, admin_token))["key"]
    data = (await write(app_client, key, action_type="lap", score_increment=61_000,
                        user_id=uid))["data"]
    assert data["boards"]["laps"]["score"] == 61_000
    # `global` may be made authoritative too; and back
    await call(app_client, "PATCH", "/api/v1/admin/boards/global", headers=bearer(admin_token),
               json={"authoritative": True})
    await write(app_client, token, 403)
    await write(app_client, key, user_id=uid)
    await call(app_client, "PATCH", "/api/v1/admin/boards/global", headers=bearer(admin_token),
               json={"authoritative": False})
    await write(app_client, token)
    for bad in (1, "yes", None):
        got = await call(app_client, "PATCH", "/api/v1/admin/boards/laps", 400,
                         headers=bearer(admin_token), json={"authoritative": bad})
        assert "authoritative" in got["error"]["fields"]
