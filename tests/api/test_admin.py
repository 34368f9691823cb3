"""Admin API: who may call it, what it validates, and what a ban does."""

from __future__ import annotations

import uuid
from typing import Any

from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.auth.tokens import mint
from tests.support import bearer, eventually, post_score

USERS = "/api/v1/admin/users"


async def call(client: Any, path: str, token: str | None, status: int, **kw: Any) -> Any:
    resp = await client.post(path, headers=bearer(token) if token else {}, **kw)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_only_admins(client: Any, make_player: Any) -> None:
    uid, player = await make_player()
    new = {"json": {"username": "newbie", "email": "newbie@x.io"}}
    assert (await call(client, USERS, None, 401, **new))["error"]["code"] == "UNAUTHORIZED"
    assert (await call(client, USERS, player, 403, **new))["error"]["code"] == "FORBIDDEN"
    await call(client, f"{USERS}/{uid}/ban", player, 403)
    await call(client, f"{USERS}/{uid}/unban", player, 403)


async def test_create_user_rules(client: Any, make_player: Any, pool: Any) -> None:
    admin_id, admin = await make_player(admin=True)
    made = await call(client, USERS, admin, 201, json={
        "username": "fresh_one", "email": "fresh@x.io",
        "avatar_url": "https://cdn.example.com/f.png"})
    assert made["data"]["username"] == "fresh_one" and uuid.UUID(made["data"]["id"])
    dup = await call(client, USERS, admin, 409, json={"username": "fresh_one",
                                                      "email": "other@x.io"})
    assert dup["error"]["code"] == "CONFLICT" and "username" in dup["error"]["fields"]
    dup = await call(client, USERS, admin, 409, json={"username": "other", "email": "fresh@x.io"})
    assert "email" in dup["error"]["fields"]
    # case does not make a second player: not in the name, not in the email
    upper = await call(client, USERS, admin, 409, json={"username": "FRESH_ONE",
                                                         "email": "upper@x.io"})
    assert "username" in upper["error"]["fields"]
    upper = await call(client, USERS, admin, 409, json={"username": "someone",
                                                         "email": "FRESH@X.IO"})
    assert "email" in upper["error"]["fields"]
    for bad in ({"username": "ab", "email": "a@x.io"},
                {"username": "x" * 51, "email": "a@x.io"},
                {"username": "okname", "email": "not-an-email"},
                {"username": "okname", "email": "a@x.io", "avatar_url": "ftp://x/y.png"},
                {"username": "okname", "email": "a@x.io", "avatar_url": "javascript:alert(1)"},
                {"username": "okname", "email": "a@x.io", "role": "admin"},
                {"username": "okname"},
                {"username": "alice\n", "email": "a@x.io"}):  # `$` would match before a newline
        body = await call(client, USERS, admin, 400, json=bad)
        assert body["error"]["code"] == "VALIDATION_ERROR" and body["error"]["fields"]
    audit = await pool.fetch("SELECT actor_id, action, target_id FROM admin_audit")
    assert [(str(a["actor_id"]), a["action"], str(a["target_id"])) for a in audit] == [
        (admin_id, "create_user", made["data"]["id"])]
    # the new player can score at once

    token = mint(client.app[appkeys.CONFIG], made["data"]["id"])
    await post_score(client, token, 5)


async def test_ban_hides_and_unban_restores(client: Any, make_player: Any, pool: Any,
                                            redis: Redis) -> None:
    _, admin = await make_player(admin=True)
    players = [await make_player(f"b{i}") for i in range(3)]
    for i, (_, token) in enumerate(players):
        await post_score(client, token, 30 - 10 * i)  # b0 first
    cheater, cheater_token = players[0]
    await client.app[appkeys.PERSISTER].flush()
    events_before = await pool.fetchval("SELECT count(*) FROM score_events")

    banned = await call(client, f"{USERS}/{cheater}/ban", admin, 200)
    assert banned["data"]["banned"] is True and banned["data"]["banned_at"]
    await eventually(client.app[appkeys.HUB].settled, what="the board pushed")
    top = (await (await client.get("/api/v1/leaderboard/top10")).json())["data"]["leaderboard"]
    assert [e["user_id"] for e in top] == [players[1][0], players[2][0]]
    assert [e["rank"] for e in top] == [1, 2]
    assert (await client.get(f"/api/v1/users/{cheater}/rank")).status == 404
    page = await (await client.get("/api/v1/leaderboard")).json()
    assert page["data"]["total"] == 2
    await post_score(client, cheater_token, 5, status=403)
    assert (await client.get("/api/v1/leaderboard/me", headers=bearer(cheater_token))).status \
        == 403
    assert await pool.fetchval("SELECT count(*) FROM score_events") == events_before
    assert await pool.fetchval("SELECT total_score FROM scores WHERE user_id = $1",
                               uuid.UUID(cheater)) == 30  # history kept

    await call(client, f"{USERS}/{cheater}/unban", admin, 200)
    got = await (await client.get(f"/api/v1/users/{cheater}/rank")).json()
    assert got["data"]["rank"] == 1 and got["data"]["score"] == 30
    actions = [r["action"] for r in await pool.fetch(
        "SELECT action FROM admin_audit WHERE target_id = $1 ORDER BY id", uuid.UUID(cheater))]
    assert actions == ["ban", "unban"]


async def test_ban_unknown_or_malformed(client: Any, make_player: Any) -> None:
    _, admin = await make_player(admin=True)
    body = await call(client, f"{USERS}/{uuid.uuid4()}/ban", admin, 404)
    assert body["error"]["code"] == "NOT_FOUND"
    body = await call(client, f"{USERS}/not-a-uuid/ban", admin, 400)
    assert body["error"]["code"] == "VALIDATION_ERROR"


async def test_an_admin_cannot_ban_themselves(client: Any, make_player: Any, pool: Any) -> None:
    admin_id, admin = await make_player(admin=True)
    body = await call(client, f"{USERS}/{admin_id}/ban", admin, 409)
    assert body["error"]["code"] == "CONFLICT"
    # nothing changed: still an admin who can act; the attempt is audited
    assert await pool.fetchval("SELECT banned_at FROM users WHERE id = $1",
                               uuid.UUID(admin_id)) is None
    other, _ = await make_player()
    await call(client, f"{USERS}/{other}/ban", admin, 200)
    actions = [r["action"] for r in await pool.fetch(
        "SELECT action FROM admin_audit WHERE actor_id = $1 ORDER BY id", uuid.UUID(admin_id))]
    assert actions == ["ban_refused", "ban"]
