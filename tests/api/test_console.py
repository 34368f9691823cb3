"""The admin console's own routes: players by username prefix, the audit log, the live
numbers, and the page's headers; against a real Redis and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.support import bearer, call, post_score


async def test_players_by_prefix(client: Any, make_player: Any, admin_token: str) -> None:
    for name in ("Zed_one", "zed_two", "zed%three", "zebra", "alice"):
        await make_player(name)
    h = bearer(admin_token)
    got = (await call(client, "GET", "/api/v1/admin/users?q=ZED", headers=h))["data"]
    assert [u["username"] for u in got["users"]] == ["zed%three", "Zed_one", "zed_two"]
    assert got["next_cursor"] is None
    assert set(got["users"][0]) == {"id", "username", "avatar_url", "banned", "created_at"}
    # LIKE's wildcards are literal here
    got = (await call(client, "GET", "/api/v1/admin/users?q=zed%25", headers=h))["data"]
    assert [u["username"] for u in got["users"]] == ["zed%three"]
    got = (await call(client, "GET", "/api/v1/admin/users?q=ze_", headers=h))["data"]
    assert [u["username"] for u in got["users"]] == []
    # paged
    first = (await call(client, "GET", "/api/v1/admin/users?q=ze&limit=2", headers=h))["data"]
    rest = (await call(client, "GET",
                       f"/api/v1/admin/users?q=ze&limit=2&cursor={first['next_cursor']}",
                       headers=h))["data"]
    names = [u["username"] for u in first["users"] + rest["users"]]
    assert names == ["zebra", "zed%three", "Zed_one", "zed_two"] and rest["next_cursor"] is None
    _, player = await make_player()
    await call(client, "GET", "/api/v1/admin/users?q=ze", 403, headers=bearer(player))
    await call(client, "GET", "/api/v1/admin/users?q=ze", 401)
    await call(client, "GET", "/api/v1/admin/users?limit=0", 400, headers=h)
    for bad in ("q=a%00b", "cursor=%00", "q=" + "x" * 51):  # schemathesis found the NUL
        got = await call(client, "GET", f"/api/v1/admin/users?{bad}", 400, headers=h)
        assert got["error"]["code"] == "VALIDATION_ERROR"


async def test_the_audit_log_shows_each_change(client: Any, make_player: Any,
                                               admin_token: str) -> None:
    h = bearer(admin_token)
    uid, _ = await make_player("victim")
    await call(client, "POST", "/api/v1/admin/boards", 201, headers=h,
               json={"id": "weekly", "title": "Weekly", "actions": ["level_complete"]})
    await call(client, "POST", "/api/v1/admin/boards/weekly/reset", headers=h)
    await call(client, "POST", f"/api/v1/admin/users/{uid}/ban", headers=h)
    key = (await call(client, "POST", "/api/v1/admin/keys", 201, headers=h,
                      json={"name": "m"}))["data"]
    await call(client, "DELETE", f"/api/v1/admin/keys/{key['id']}", headers=h)
    page = (await call(client, "GET", "/api/v1/admin/audit?limit=3", headers=h))["data"]
    more = (await call(client, "GET",
                       f"/api/v1/admin/audit?limit=50&cursor={page['next_cursor']}",
                       headers=h))["data"]
    entries = page["entries"] + more["entries"]
    assert [e["action"] for e in entries][:5] == ["revoke_key", "create_key", "ban",
                                                   "reset_board", "create_board"]
    assert entries[0]["target"] == key["id"] and entries[2]["target"] == uid
    assert entries[3]["target"] == "weekly"
    assert set(entries[0]) == {"at", "actor", "action", "target", "details"}
    _, player = await make_player()
    await call(client, "GET", "/api/v1/admin/audit", 403, headers=bearer(player))


async def test_live_numbers(client: Any, make_player: Any, admin_token: str) -> None:
    _, token = await make_player()
    await post_score(client, token, 5)
    got = (await call(client, "GET", "/api/v1/admin/summary",
                      headers=bearer(admin_token)))["data"]
    assert got["persist_waiting"] == 1 and got["open_flags"] == 0 and got["watchers"] == 0
    assert got["updates_per_s"] >= 0
    await call(client, "GET", "/api/v1/admin/summary", 403, headers=bearer(token))


async def test_the_console_page_is_locked_down(client: Any) -> None:
    resp = await client.get("/admin")
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src" not in csp or "'unsafe-inline'" not in csp
    assert "default-src 'self'" in csp and resp.headers["X-Frame-Options"] == "DENY"
    html = await resp.text()
    assert "<script src=\"/static/admin.js\"></script>" in html
    assert "<script>" not in html and " on" + "click=" not in html  # no inline script
