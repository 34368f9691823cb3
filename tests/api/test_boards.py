"""Many boards (DESIGN "Boards and seasons"): definitions, one write feeding several
boards, operators and orders, per-board reads, the friends view, retiring; against a
real Redis and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import make_mocked_request
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.api.routing import BoardPath
from scoreboard.obs import metrics
from tests.support import bearer, eventually, post_score

ACTIONS = {"lap": Action("lap", 100_000, 10**6), "kill": Action("kill", 50, 10**6),
           "level_complete": Action("level_complete", 1000, 10**6)}


@pytest.fixture
async def app_client(make_client: Any) -> Any:
    return await make_client(actions=ACTIONS)


async def create(client: Any, token: str, status: int = 201, **board: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/admin/boards", headers=bearer(token), json=board)
    body = await resp.json()
    assert resp.status == status, body
    return dict(body)


async def post_to(client: Any, token: str, board: str, value: int, action: str = "lap",
                  status: int = 200) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/boards/{board}/scores", headers=bearer(token),
                             json={"action_type": action, "score_increment": value})
    body = await resp.json()
    assert resp.status == status, body
    return dict(body)


async def get(client: Any, path: str, status: int = 200, **kw: Any) -> dict[str, Any]:
    resp = await client.get(path, **kw)
    body = await resp.json()
    assert resp.status == status, body
    return dict(body)


async def test_global_is_there_and_boards_are_listed(app_client: Any, admin_token: str) -> None:
    listed = (await get(app_client, "/api/v1/boards"))["data"]["boards"]
    assert listed == [{"id": "global", "title": "Global", "order": "desc", "operator": "incr",
                       "actions": sorted(ACTIONS), "reset": None, "timezone": "UTC",
                       "authoritative": False, "starts_at": None, "ends_at": None,
                       "join_required": False, "max_size": None, "max_attempts": None,
                       "league": None, "season": 1}]
    made = await create(app_client, admin_token, id="laps", title="Lap times",
                        actions=["lap"], order="asc", operator="best")
    assert made["data"] == {"id": "laps", "title": "Lap times", "order": "asc",
                            "operator": "best", "actions": ["lap"], "reset": None,
                            "timezone": "UTC", "authoritative": False, "starts_at": None,
                            "ends_at": None, "join_required": False, "max_size": None,
                            "max_attempts": None, "league": None, "season": 1}
    ids = [b["id"] for b in (await get(app_client, "/api/v1/boards"))["data"]["boards"]]
    assert ids == ["global", "laps"]
    detail = (await get(app_client, "/api/v1/boards/laps"))["data"]
    assert detail["players"] == 0 and detail["next_reset_at"] is None
    assert detail["season_started_at"].endswith("+00:00")
    weekly = await create(app_client, admin_token, id="weekly", title="Weekly",
                          actions=["kill"], reset="0 0 * * 1", timezone="Europe/Berlin")
    assert weekly["data"]["reset"] == "0 0 * * 1"
    upcoming = (await get(app_client, "/api/v1/boards/weekly"))["data"]["next_reset_at"]
    assert upcoming.endswith(("+01:00", "+02:00")) and "T00:00:00" in upcoming


@pytest.mark.parametrize(("board", "field"), [
    ({"id": "Bad Id", "title": "t", "actions": ["lap"]}, "id"),
    ({"id": "x" * 65, "title": "t", "actions": ["lap"]}, "id"),
    ({"id": "b", "title": "", "actions": ["lap"]}, "title"),
    ({"id": "b", "title": "t" * 101, "actions": ["lap"]}, "title"),
    ({"id": "b", "title": "t", "actions": ["lap"], "order": "up"}, "order"),
    ({"id": "b", "title": "t", "actions": ["lap"], "operator": "max"}, "operator"),
    ({"id": "b", "title": "t", "actions": ["nope"]}, "actions"),
    ({"id": "b", "title": "t", "actions": []}, "actions"),
    ({"id": "b", "title": "t", "actions": ["lap"], "reset": "every day"}, "reset"),
    ({"id": "b", "title": "t", "actions": ["lap"], "timezone": "Mars/Olympus"}, "timezone"),
    ({"id": "b", "title": "t", "actions": ["lap"], "colour": "red"}, "colour"),
    ({"id": "b", "title": 5, "actions": ["lap"]}, "title"),
])
async def test_bad_definitions_name_the_field_and_change_nothing(
        app_client: Any, admin_token: str, pool: asyncpg.Pool, board: dict[str, Any],
        field: str) -> None:
    body = await create(app_client, admin_token, 400, **board)
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert field in body["error"]["fields"]
    assert await pool.fetchval("SELECT count(*) FROM boards") == 1
    assert await pool.fetchval("SELECT count(*) FROM admin_audit") == 0


async def test_conflicts_and_unknown_boards(app_client: Any, admin_token: str,
                                            make_player: Any, pool: asyncpg.Pool) -> None:
    await create(app_client, admin_token, id="laps", title="Laps", actions=["lap"])
    dup = await create(app_client, admin_token, 409, id="laps", title="Again", actions=["lap"])
    assert dup["error"]["code"] == "CONFLICT"
    h = bearer(admin_token)
    for method, path, body, status in [
        ("DELETE", "/api/v1/admin/boards/global", None, 409),
        ("PATCH", "/api/v1/admin/boards/global", {"reset": "0 0 * * *"}, 409),
        ("PATCH", "/api/v1/admin/boards/nope", {"title": "x"}, 404),
        ("DELETE", "/api/v1/admin/boards/nope", None, 404),
    ]:
        resp = await app_client.request(method, path, headers=h, json=body)
        assert resp.status == status, await resp.text()
    _, player = await make_player()
    await post_to(app_client, player, "laps", 30)
    changed = await app_client.patch("/api/v1/admin/boards/laps", headers=h,
                                     json={"order": "asc"})
    assert changed.status == 409 and (await changed.json())["error"]["code"] == "CONFLICT"
    assert await pool.fetchval("SELECT sort_order FROM boards WHERE id = 'laps'") == "desc"
    retitled = await app_client.patch("/api/v1/admin/boards/laps", headers=h,
                                      json={"title": "Laps!"})
    assert (await retitled.json())["data"]["title"] == "Laps!"
    for path in ("/api/v1/boards/nope", "/api/v1/boards/nope/top10",
                 "/api/v1/boards/nope/leaderboard", "/api/v1/boards/laps/top10?season=2"):
        assert (await get(app_client, path, 404))["error"]["code"] == "NOT_FOUND"
    await post_to(app_client, player, "nope", 5, status=404)
    refused = await post_to(app_client, player, "laps", 5, action="kill", status=422)
    assert refused["error"]["code"] == "VALIDATION_ERROR"
    assert "action_type" in refused["error"]["fields"]
    non_admin = await app_client.post("/api/v1/admin/boards", headers=bearer(player),
                                      json={"id": "x", "title": "x", "actions": ["lap"]})
    assert non_admin.status == 403
    audited = await pool.fetch("SELECT action, detail FROM admin_audit ORDER BY id")
    assert [r["action"] for r in audited] == ["create_board", "change_board"]


async def test_one_update_feeds_three_boards_exactly_under_concurrency(
        make_client: Any, admin_token: str, make_player: Any, redis: Redis,
        pool: asyncpg.Pool) -> None:
    client = await make_client(actions=ACTIONS)
    for board in ("kills_a", "kills_b"):
        await create(client, admin_token, id=board, title=board, actions=["kill"])
    players = [await make_player() for _ in range(10)]

    async def burst(token: str) -> list[dict[str, Any]]:
        return [await post_score(client, token, 3, "kill") for _ in range(10)]

    replies = await asyncio.gather(*(burst(t) for _, t in players))
    assert set(replies[0][0]["data"]["boards"]) == {"global", "kills_a", "kills_b"}
    for board in ("global", "kills_a", "kills_b"):
        page = (await get(client, f"/api/v1/boards/{board}/leaderboard?limit=100"))["data"]
        assert page["total"] == 10
        assert {e["user_id"]: e["score"] for e in page["leaderboard"]} == {
            uid: 30 for uid, _ in players}
    await client.app[appkeys.PERSISTER].flush()
    rows = await pool.fetch("SELECT board_id, sum(score) AS s, count(*) AS n FROM board_scores"
                            " GROUP BY board_id ORDER BY board_id")
    assert [(r["board_id"], r["s"], r["n"]) for r in rows] == [("kills_a", 300, 10),
                                                              ("kills_b", 300, 10)]
    assert await pool.fetchval("SELECT sum(total_score) FROM scores") == 300
    assert await pool.fetchval("SELECT count(*) FROM score_events") == 100


async def test_an_action_that_skips_global_answers_for_its_first_board(
        app_client: Any, admin_token: str, make_player: Any) -> None:
    h = bearer(admin_token)
    await app_client.patch("/api/v1/admin/boards/global", headers=h,
                           json={"actions": ["level_complete", "kill"]})
    await create(app_client, admin_token, id="laps", title="Laps", actions=["lap"],
                 order="asc", operator="best")
    _, token = await make_player()
    data = (await post_score(app_client, token, 90, "lap"))["data"]
    assert set(data["boards"]) == {"laps"}
    assert data["new_score"] == 90 and data["current_rank"] == 1
    assert (await get(app_client, "/api/v1/leaderboard/top10"))["data"]["leaderboard"] == []


async def test_ties_on_a_board_go_to_who_reached_first(app_client: Any, admin_token: str,
                                                        make_player: Any) -> None:
    await create(app_client, admin_token, id="kills", title="Kills", actions=["kill"])
    a, b, c = [await make_player() for _ in range(3)]
    await post_to(app_client, b[1], "kills", 20, "kill")
    await post_to(app_client, a[1], "kills", 10, "kill")
    await post_to(app_client, c[1], "kills", 20, "kill")  # ties b, later
    await post_to(app_client, a[1], "kills", 10, "kill")  # a reaches 20 last
    hub = app_client.app[appkeys.HUB]
    await eventually(lambda: hub.settled("kills"), what="the hub to push the last change")
    board = (await get(app_client, "/api/v1/boards/kills/top10"))["data"]
    assert [e["user_id"] for e in board["leaderboard"]] == [b[0], c[0], a[0]]
    assert board["board"] == "kills" and board["season"] == 1
    # the seed's board saw none of it
    assert (await get(app_client, "/api/v1/leaderboard/top10"))["data"]["leaderboard"] == []


@pytest.mark.parametrize(("order", "operator", "posts", "expected"), [
    ("desc", "best", [50, 80, 60], [(0, 50), (50, 80), (80, 80)]),
    ("asc", "best", [50, 80, 40], [(0, 50), (50, 50), (50, 40)]),
    ("desc", "latest", [50, 80, 60], [(0, 50), (50, 80), (80, 60)]),
    ("asc", "latest", [50, 30, 70], [(0, 50), (50, 30), (30, 70)]),
    ("asc", "incr", [5, 7], [(0, 5), (5, 12)]),
])
async def test_operators_and_orders(app_client: Any, admin_token: str, make_player: Any,
                                    pool: asyncpg.Pool, order: str, operator: str,
                                    posts: list[int], expected: list[tuple[int, int]]) -> None:
    await create(app_client, admin_token, id="b", title="b", actions=["lap"], order=order,
                 operator=operator)
    uid, token = await make_player()
    seen = []
    for value in posts:
        data = (await post_to(app_client, token, "b", value))["data"]
        assert data["board"] == "b" and data["season"] == 1
        seen.append((data["previous_score"], data["new_score"]))
    assert seen == expected
    # a rival between the two extremes ranks by the board's order
    _, rival = await make_player()
    await post_to(app_client, rival, "b", 45)
    final = expected[-1][1]
    hub = app_client.app[appkeys.HUB]
    await eventually(lambda: hub.settled("b"), what="the hub to push the last change")
    top = (await get(app_client, "/api/v1/boards/b/top10"))["data"]["leaderboard"]
    mine_first = final > 45 if order == "desc" else final < 45
    assert (top[0]["user_id"] == uid) is mine_first
    assert {e["score"] for e in top} == {final, 45}
    await app_client.app[appkeys.PERSISTER].flush()
    assert await pool.fetchval("SELECT score FROM board_scores WHERE user_id = $1",
                               uuid.UUID(uid)) == final


async def test_friends_view(app_client: Any, admin_token: str, make_player: Any) -> None:
    await create(app_client, admin_token, id="kills", title="Kills", actions=["kill"])
    players = [await make_player() for _ in range(5)]
    for i, (_, token) in enumerate(players[:4]):
        await post_to(app_client, token, "kills", 10 * (i + 1), "kill")
    friends = [players[0][0], players[3][0], players[4][0]]  # the last never scored
    path = "/api/v1/boards/kills/ranks?user_ids=" + ",".join(friends)
    data = (await get(app_client, path))["data"]
    assert [(e["user_id"], e["rank"], e["score"]) for e in data["leaderboard"]] == [
        (players[3][0], 1, 40), (players[0][0], 4, 10)]
    for bad in ("", "not-a-uuid", ",".join([players[0][0]] * 101)):
        body = await get(app_client, "/api/v1/boards/kills/ranks?user_ids=" + bad, 400)
        assert "user_ids" in body["error"]["fields"]


async def test_per_board_me_and_rank(app_client: Any, admin_token: str,
                                     make_player: Any) -> None:
    await create(app_client, admin_token, id="kills", title="Kills", actions=["kill"])
    uid, token = await make_player()
    await post_to(app_client, token, "kills", 7, "kill")
    me = (await get(app_client, "/api/v1/boards/kills/me", headers=bearer(token)))["data"]
    assert (me["rank"], me["score"]) == (1, 7)
    rank = (await get(app_client, f"/api/v1/boards/kills/users/{uid}/rank"))["data"]
    assert (rank["rank"], rank["score"]) == (1, 7)
    await get(app_client, f"/api/v1/users/{uid}/rank", 404)  # not on global


async def test_retired_board_leaves_lists_and_refuses_scores(
        app_client: Any, admin_token: str, make_player: Any, redis: Redis,
        pool: asyncpg.Pool) -> None:
    await create(app_client, admin_token, id="kills", title="Kills", actions=["kill"])
    _, token = await make_player()
    data = (await post_score(app_client, token, 5, "kill"))["data"]
    assert set(data["boards"]) == {"global", "kills"}
    resp = await app_client.delete("/api/v1/admin/boards/kills", headers=bearer(admin_token))
    assert resp.status == 200
    assert [b["id"] for b in (await get(app_client, "/api/v1/boards"))["data"]["boards"]] == [
        "global"]
    await post_to(app_client, token, "kills", 5, "kill", status=404)
    data = (await post_score(app_client, token, 5, "kill"))["data"]
    assert set(data["boards"]) == {"global"}
    await app_client.app[appkeys.PERSISTER].flush()
    # its history stays in PostgreSQL; the id is not reused
    assert await pool.fetchval("SELECT score FROM board_scores WHERE board_id = 'kills'") == 5
    await create(app_client, admin_token, 409, id="kills", title="Again", actions=["kill"])


async def test_an_admin_change_in_another_process_is_obeyed_at_once(
        make_client: Any, admin_token: str, make_player: Any) -> None:
    one, two = await make_client(actions=ACTIONS), await make_client(actions=ACTIONS)
    _, token = await make_player()
    await post_score(two, token, 1, "kill")  # `two` has loaded its view of the boards
    await create(one, admin_token, id="kills", title="Kills", actions=["kill"])
    data = (await post_score(two, token, 1, "kill"))["data"]
    assert set(data["boards"]) == {"global", "kills"}  # STALE, reloaded, applied once
    assert data["new_score"] == 2 and data["boards"]["kills"]["score"] == 1


async def test_idempotent_retry_on_a_board(app_client: Any, admin_token: str,
                                           make_player: Any) -> None:
    await create(app_client, admin_token, id="kills", title="Kills", actions=["kill"])
    _, token = await make_player()
    h = {**bearer(token), "Idempotency-Key": "k1"}
    bodies = []
    for _ in range(2):
        resp = await app_client.post("/api/v1/boards/kills/scores", headers=h,
                                     json={"action_type": "kill", "score_increment": 4})
        bodies.append(await resp.json())
    assert bodies[0]["data"] == bodies[1]["data"] and bodies[0]["data"]["new_score"] == 4
    # the same key on the other endpoint is another request
    other = await app_client.post("/api/v1/scores/update", headers=h,
                                  json={"action_type": "kill", "score_increment": 4})
    assert other.status == 422


@pytest.mark.redis62
async def test_direct_mode_keeps_board_totals(make_client: Any, admin_token: str,
                                              make_player: Any, pool: asyncpg.Pool) -> None:
    client = await make_client(actions=ACTIONS, persist_mode="direct")
    await create(client, admin_token, id="best", title="Best", actions=["kill"],
                 operator="best")
    uid, token = await make_player()
    for value in (10, 30, 20):
        data = (await post_score(client, token, value, "kill"))["data"]
    assert data["new_score"] == 60 and data["boards"]["best"]["score"] == 30
    row = await pool.fetchrow("SELECT score, version FROM board_scores WHERE user_id = $1",
                              uuid.UUID(uid))
    assert (row["score"], row["version"]) == (30, 3)
    assert await pool.fetchval("SELECT total_score FROM scores") == 60


async def test_demo_boards(make_client: Any) -> None:
    from scoreboard.actions import default_actions
    from scoreboard.cli.demo import demo_boards

    client = await make_client(actions=default_actions())
    for _ in range(2):  # a second start finds them there
        await demo_boards(client.app)
    boards = (await get(client, "/api/v1/boards"))["data"]["boards"]
    assert [(b["id"], b["order"], b["operator"], b["reset"]) for b in boards] == [
        ("best_run", "desc", "best", None), ("daily", "desc", "incr", "0 0 * * *"),
        ("global", "desc", "incr", None), ("hourly_cup", "desc", "incr", "0 * * * *"),
        ("kills", "desc", "incr", None), ("laps", "asc", "best", None),
        ("league", "desc", "incr", "0 0 * * 1")]
    daily = (await get(client, "/api/v1/boards/daily"))["data"]
    assert daily["next_reset_at"].endswith("T00:00:00+00:00")  # the page counts down to it
    cup = (await get(client, "/api/v1/boards/hourly_cup"))["data"]
    assert (cup["max_size"], cup["max_attempts"]) == (8, 30)
    # open the first 45 minutes of each hour (upcoming after, until the next hour)
    assert datetime.fromisoformat(cup["next_reset_at"]).minute == 45
    league = (await get(client, "/api/v1/boards/league"))["data"]["league"]
    assert league["tiers"] == ["bronze", "silver", "gold"]


async def test_a_board_live_at_start_is_read_through_its_own_path(
        make_client: Any, admin_token: str, make_player: Any) -> None:
    """api/routing.py: a process started after a board exists finds that board's top
    10 by its own path; it answers what the template's route answers, is counted under
    the template, and says 404 once the board is retired by another process."""
    one = await make_client(actions=ACTIONS)
    await create(one, admin_token, id="kills", title="Kills", actions=["kill"])
    players = [await make_player() for _ in range(3)]
    for i, (_, token) in enumerate(players):
        await post_to(one, token, "kills", 10 * (i + 1), "kill")
    two = await make_client(actions=ACTIONS)  # started with `kills` live
    path = "/api/v1/boards/kills/top10"
    shortcut = [r for r in two.app.router.resources() if isinstance(r, BoardPath)]
    assert sorted(r.canonical for r in shortcut) == ["/api/v1/boards/global/top10", path]
    assert not any(isinstance(r, BoardPath) for r in one.app.router.resources()
                   if r.canonical == path)  # `one` started before it: the template

    async def same_top10() -> bool:
        a, b = [dict((await get(c, path))["data"]) for c in (one, two)]
        a.pop("last_updated"), b.pop("last_updated")  # when each process's copy was built
        return bool(a["leaderboard"] and a == b)

    await eventually(same_top10, what="both processes' top 10 of kills")
    assert [e["score"] for e in (await get(two, path))["data"]["leaderboard"]] == [30, 20, 10]
    resolved = await two.app.router.resolve(make_mocked_request("GET", path, app=two.app))
    assert isinstance(resolved.route.resource, BoardPath) and resolved["board"] == "kills"
    row = ("GET", "/api/v1/boards/{board}/top10", 200)
    counted = metrics.TALLY._rows.get(row, [0])[0]
    await get(two, path)
    assert metrics.TALLY._rows[row][0] == counted + 1
    resp = await one.delete("/api/v1/admin/boards/kills", headers=bearer(admin_token))
    assert resp.status == 200

    async def gone() -> bool:  # once `two` has heard of it (Pub/Sub), through its path
        resp = await two.get(path)
        return resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"

    await eventually(gone, what="the retired board's own path answering 404")
