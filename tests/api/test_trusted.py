"""Trusted writes (DESIGN "Trusted writes: game servers"): server keys, writes on a
player's behalf, batches, authoritative boards, value bounds, and who wrote each
event; against a real Redis and a real PostgreSQL."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from tests.support import bearer, call

ACTIONS = {"kill": Action("kill", 50, 10**6), "lap": Action("lap", 100_000, 10**6, 20_000),
           "slow": Action("slow", 100, 2)}
SECRET_SHAPE = re.compile(r"sbk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


@pytest.fixture
async def app_client(make_client: Any) -> Any:
    return await make_client(actions=ACTIONS)


async def new_key(client: Any, admin_token: str, name: str = "match-server",
                  actions: list[str] | None = None) -> dict[str, Any]:
    body = await call(client, "POST", "/api/v1/admin/keys", 201, headers=bearer(admin_token),
                      json={"name": name, "actions": actions})
    return dict(body["data"])


async def write(client: Any, secret: str, status: int = 200, *, path: str = "/api/v1/scores/update",
                idem: str | None = None, **body: Any) -> dict[str, Any]:
    headers = bearer(secret)
    if idem is not None:
        headers["Idempotency-Key"] = idem
    got = await call(client, "POST", path, status, headers=headers,
                     json={"action_type": "kill", "score_increment": 5, **body})
    return dict(got)


async def totals(redis: Redis, uid: str) -> float | None:
    member = await redis.hget("{lb}:member", uid)
    return await redis.zscore("{lb}:scores", member) if member else None


async def test_a_key_is_made_listed_and_shown_once(app_client: Any, admin_token: str) -> None:
    made = await new_key(app_client, admin_token, actions=["kill", "lap"])
    assert SECRET_SHAPE.fullmatch(made["key"])
    assert made["name"] == "match-server" and made["actions"] == ["kill", "lap"]
    uuid.UUID(made["id"])
    listed = (await call(app_client, "GET", "/api/v1/admin/keys",
                         headers=bearer(admin_token)))["data"]["keys"]
    assert listed[-1] == ({k: made[k] for k in ("id", "name", "actions", "created_at")}
                          | {"last_used_at": None, "revoked_at": None})
    every = await new_key(app_client, admin_token, name="all")
    assert every["actions"] is None


@pytest.mark.parametrize("body, field", [
    ({}, "name"), ({"name": ""}, "name"), ({"name": "x", "actions": ["nope"]}, "actions"),
    ({"name": "x", "actions": []}, "actions"), ({"name": "x", "extra": 1}, "extra"),
    ({"name": "a\x00b"}, "name"),
])
async def test_bad_key_definitions_are_refused(app_client: Any, admin_token: str,
                                               body: dict[str, Any], field: str) -> None:
    async def count() -> int:
        return len((await call(app_client, "GET", "/api/v1/admin/keys",
                               headers=bearer(admin_token)))["data"]["keys"])

    before = await count()
    got = await call(app_client, "POST", "/api/v1/admin/keys", 400,
                     headers=bearer(admin_token), json=body)
    assert field in got["error"]["fields"]
    assert await count() == before


async def test_keys_are_admin_only(app_client: Any, make_player: Any, admin_token: str) -> None:
    _, player = await make_player()
    await call(app_client, "POST", "/api/v1/admin/keys", 403, headers=bearer(player),
               json={"name": "x"})
    await call(app_client, "GET", "/api/v1/admin/keys", 401)
    key = await new_key(app_client, admin_token)
    # a key is no admin: a clear 403 on every admin route, and on a player's own reads
    for method, path in (("GET", "/api/v1/admin/keys"), ("POST", "/api/v1/admin/keys"),
                         ("DELETE", f"/api/v1/admin/keys/{key['id']}"),
                         ("GET", "/api/v1/leaderboard/me")):
        got = await call(app_client, method, path, 403, headers=bearer(key["key"]),
                         json={"name": "x"} if method == "POST" else None)
        assert "server key" in got["error"]["message"]


async def test_a_game_server_writes_for_a_player(app_client: Any, admin_token: str,
                                                 make_player: Any, redis: Redis) -> None:
    uid, _ = await make_player()
    key = await new_key(app_client, admin_token)
    data = (await write(app_client, key["key"], user_id=uid))["data"]
    assert data["user_id"] == uid and data["new_score"] == 5 and data["current_rank"] == 1
    assert data["boards"]["global"]["score"] == 5
    assert await totals(redis, uid) == 5
    # the same, to one board
    data = (await write(app_client, key["key"], path="/api/v1/boards/global/scores",
                        user_id=uid))["data"]
    assert data["board"] == "global" and data["new_score"] == 10


async def test_a_key_must_name_an_existing_unbanned_player(
        app_client: Any, admin_token: str, make_player: Any, redis: Redis) -> None:
    key = (await new_key(app_client, admin_token))["key"]
    got = await write(app_client, key, 400)
    assert "user_id" in got["error"]["fields"]
    got = await write(app_client, key, 400, user_id="not-a-uuid")
    assert "user_id" in got["error"]["fields"]
    got = await write(app_client, key, 404, user_id=str(uuid.uuid4()))
    assert got["error"]["code"] == "NOT_FOUND"
    uid, _ = await make_player()
    await call(app_client, "POST", f"/api/v1/admin/users/{uid}/ban", headers=bearer(admin_token))
    got = await write(app_client, key, 403, user_id=uid)
    assert got["error"]["code"] == "FORBIDDEN"
    assert await redis.xlen("{lb}:events") == 0


async def test_a_player_can_never_name_another(app_client: Any, make_player: Any,
                                               redis: Redis) -> None:
    victim, _ = await make_player()
    _, token = await make_player()
    for path in ("/api/v1/scores/update", "/api/v1/boards/global/scores"):
        got = await write(app_client, token, 400, path=path, user_id=victim)
        assert got["error"]["fields"] == {"user_id": ["Unknown field."]}
    assert await totals(redis, victim) is None


async def test_a_key_writes_only_its_actions(app_client: Any, admin_token: str,
                                             make_player: Any) -> None:
    uid, _ = await make_player()
    key = (await new_key(app_client, admin_token, actions=["lap"]))["key"]
    got = await write(app_client, key, 403, user_id=uid)
    assert got["error"]["code"] == "FORBIDDEN" and "'kill'" in got["error"]["message"]
    await write(app_client, key, user_id=uid, action_type="lap", score_increment=30_000)


async def test_caps_rate_and_idempotency_are_the_players(app_client: Any, admin_token: str,
                                                          make_player: Any,
                                                          redis: Redis) -> None:
    uid, token = await make_player()
    key = (await new_key(app_client, admin_token))["key"]
    await write(app_client, key, 422, user_id=uid, score_increment=51)
    # `slow` allows 2 a minute per player, whoever writes them
    await write(app_client, token, action_type="slow")
    await write(app_client, key, user_id=uid, action_type="slow")
    got = await write(app_client, key, 429, user_id=uid, action_type="slow")
    assert got["error"]["code"] == "RATE_LIMITED"
    # idempotency per player and key: the key's retry replays; the same Idempotency-Key
    # from the player's own token is another request
    first = await write(app_client, key, idem="match-7", user_id=uid)
    again = await write(app_client, key, idem="match-7", user_id=uid)
    assert again["data"] == first["data"]
    own = await write(app_client, token, idem="match-7")
    assert own["data"]["new_score"] == first["data"]["new_score"] + 5
    got = await write(app_client, key, 422, idem="match-7", user_id=uid, score_increment=6)
    assert got["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await totals(redis, uid) == 4 * 5


async def test_bad_keys_get_a_clear_401(app_client: Any, admin_token: str,
                                        make_player: Any) -> None:
    uid, _ = await make_player()
    real = (await new_key(app_client, admin_token))["key"]
    tag = real.split("_")[1]
    other_tag = "0" * 8 if tag != "0" * 8 else "1" * 8
    cases = {
        "sbk_nonsense": "Malformed",
        real[:-1]: "Malformed",
        f"sbk_{tag}_{'A' * 43}": "Unknown",
        f"sbk_{other_tag}_{real.split('_', 2)[2]}": "another deployment",
    }
    for secret, says in cases.items():
        got = await write(app_client, secret, 401, user_id=uid)
        assert got["error"]["code"] == "UNAUTHORIZED" and says in got["error"]["message"]


async def test_revocation_is_obeyed_at_once_by_every_process(
        make_client: Any, admin_token: str, make_player: Any) -> None:
    one = await make_client(actions=ACTIONS)
    two = await make_client(actions=ACTIONS)  # another process: its own copy of the grants
    uid, _ = await make_player()
    key = await new_key(one, admin_token)
    await write(two, key["key"], user_id=uid)  # made in one, known to two on first use
    revoked = await call(one, "DELETE", f"/api/v1/admin/keys/{key['id']}",
                         headers=bearer(admin_token))
    assert revoked["data"]["revoked_at"] is not None
    for client in (two, one):  # the very next write, in either process
        got = await write(client, key["key"], 401, user_id=uid)
        assert got["error"]["code"] == "UNAUTHORIZED"
    await call(one, "DELETE", f"/api/v1/admin/keys/{uuid.uuid4()}", 404,
               headers=bearer(admin_token))


async def test_last_use_and_the_writer_are_recorded(app_client: Any, admin_token: str,
                                                    make_player: Any,
                                                    pool: asyncpg.Pool) -> None:
    uid, token = await make_player()
    key = await new_key(app_client, admin_token)
    await write(app_client, key["key"], user_id=uid)
    await write(app_client, token)
    app = app_client.server.app
    await app[appkeys.KEYRING].flush_used()
    listed = (await call(app_client, "GET", "/api/v1/admin/keys",
                         headers=bearer(admin_token)))["data"]["keys"]
    assert next(k for k in listed if k["id"] == key["id"])["last_used_at"] is not None
    await app[appkeys.PERSISTER].flush()
    rows = await pool.fetch("SELECT key_id FROM score_events WHERE user_id = $1 ORDER BY seq",
                            uuid.UUID(uid))
    assert [r["key_id"] for r in rows] == [uuid.UUID(key["id"]), None]


async def test_the_secret_is_stored_nowhere(app_client: Any, admin_token: str,
                                            make_player: Any, pool: asyncpg.Pool,
                                            redis: Redis,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    uid, _ = await make_player()
    key = await new_key(app_client, admin_token)
    secret = key["key"]
    await write(app_client, secret, user_id=uid)
    await write(app_client, secret, user_id=uid, idem="x")
    await call(app_client, "POST", "/api/v1/scores/batch", headers=bearer(secret),
               json={"updates": [{"user_id": uid, "action_type": "kill",
                                  "score_increment": 1}]})
    app = app_client.server.app
    await app[appkeys.KEYRING].flush_used()
    await app[appkeys.PERSISTER].flush()
    await call(app_client, "DELETE", f"/api/v1/admin/keys/{key['id']}",
               headers=bearer(admin_token))
    await write(app_client, secret, 401, user_id=uid)
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    for t in tables:
        dump = await pool.fetchval(
            f'SELECT coalesce(string_agg(x::text, \'\n\'), \'\') FROM "{t["tablename"]}" x')
        assert secret not in dump and secret.split("_", 2)[2] not in dump, t["tablename"]
    async for name in redis.scan_iter(count=1000):
        kind = (await redis.type(name)).decode()
        value = {"string": redis.get, "hash": redis.hgetall, "set": redis.smembers,
                 "zset": lambda k: redis.zrange(k, 0, -1),
                 "stream": lambda k: redis.xrange(k)}[kind](name)
        assert secret.split("_", 2)[2] not in repr(await value) + name.decode()
    assert secret.split("_", 2)[2] not in caplog.text


async def test_min_value_bounds_a_value(app_client: Any, admin_token: str,
                                        make_player: Any) -> None:
    uid, token = await make_player()
    got = await write(app_client, token, 422, action_type="lap", score_increment=19_999)
    assert got["error"]["code"] == "SCORE_LIMIT_EXCEEDED" and "20000" in got["error"]["message"]
    await write(app_client, token, action_type="lap", score_increment=20_000)
    key = (await new_key(app_client, admin_token))["key"]
    await write(app_client, key, 422, user_id=uid, action_type="lap", score_increment=1)
