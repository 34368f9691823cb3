"""Seasons (DESIGN "Boards and seasons"): a reset ends a board's season exactly once,
every increment counts in exactly one season, past seasons read back as they stood;
against a real Redis and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.store import keys
from tests.support import bearer, call, eventually, killed_mid_cut, post_score, racing_checks

ACTIONS = {"kill": Action("kill", 50, 10**6), "lap": Action("lap", 100_000, 10**6)}
WS = "/ws/leaderboard"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
async def app_client(make_client: Any) -> Any:
    return await make_client(actions=ACTIONS)


async def daily(client: Any, admin: str, **extra: Any) -> None:
    await call(client, "POST", "/api/v1/admin/boards", 201, headers=bearer(admin),
               json={"id": "daily", "title": "Daily kills", "actions": ["kill"],
                     "reset": "0 0 * * *", **extra})


async def reset(client: Any, admin: str, board: str = "daily", status: int = 200) -> Any:
    return await call(client, "POST", f"/api/v1/admin/boards/{board}/reset", status,
                      headers=bearer(admin))


async def more_acked(acked: dict[str, int], plays: list[asyncio.Future[None]]) -> None:
    """Until more updates have been acknowledged than when this was called (or every
    player is done)."""
    seen = sum(acked.values())
    await eventually(lambda: _true(sum(acked.values()) > seen or all(p.done() for p in plays)),
                     what="updates acknowledged")


async def _true(value: bool) -> bool:
    return value


async def archived(client: Any) -> None:
    """Worker 1 writes what the stream holds, then the season check archives."""
    await client.app[appkeys.PERSISTER].flush()
    await client.app[appkeys.SEASONS].check()


@pytest.mark.redis62  # the embedded default is Redis 6.2
async def test_a_reset_starts_an_empty_season_and_keeps_the_last(app_client: Any,
                                                                 admin_token: str,
                                                                 make_player: Any) -> None:
    await daily(app_client, admin_token)
    players = [await make_player() for _ in range(4)]
    for i, (_, token) in enumerate(players):
        await post_score(app_client, token, 10 * (i + 1), "kill")
    await post_score(app_client, players[0][1], 30, "kill")  # 40: ties players[3], later
    before = (await call(app_client, "GET", "/api/v1/boards/daily/leaderboard?limit=100"))["data"]
    top_before = (await call(app_client, "GET", "/api/v1/boards/daily/top10"))["data"]
    board = (await reset(app_client, admin_token))["data"]
    assert board["season"] == 2
    now = (await call(app_client, "GET", "/api/v1/boards/daily"))["data"]
    assert now["season"] == 2 and now["players"] == 0
    assert (await call(app_client, "GET", "/api/v1/boards/daily/top10"))["data"]["leaderboard"] \
        == []
    await archived(app_client)
    # the past season reads back as it stood, in the same shapes
    past = (await call(app_client, "GET",
                       "/api/v1/boards/daily/leaderboard?limit=100&season=1"))["data"]
    assert past == before
    top = (await call(app_client, "GET", "/api/v1/boards/daily/top10?season=1"))["data"]
    assert (top["leaderboard"], top["board"], top["season"]) == (top_before["leaderboard"],
                                                                 "daily", 1)
    uid = players[0][0]
    rank = (await call(app_client, "GET", f"/api/v1/boards/daily/users/{uid}/rank?season=1"))
    assert (rank["data"]["rank"], rank["data"]["score"]) == (2, 40)
    friends = (await call(app_client, "GET", f"/api/v1/boards/daily/ranks?season=1&user_ids="
                          f"{players[1][0]},{uid}"))["data"]
    assert [(e["user_id"], e["rank"]) for e in friends["leaderboard"]] == [(uid, 2),
                                                                           (players[1][0], 4)]
    seasons = (await call(app_client, "GET", "/api/v1/boards/daily/seasons"))["data"]["seasons"]
    assert [(s["season"], s["players"], s["ended_at"] is None) for s in seasons] == [
        (2, 0, True), (1, 4, False)]  # newest first
    assert seasons[1]["winner"] == {"user_id": players[3][0],
                                    "username": before["leaderboard"][0]["username"],
                                    "score": 40}
    # the Redis keys of the archived season are gone; PostgreSQL holds it
    assert not await app_client.app[appkeys.REDIS].exists(keys.board_keys("daily", 1).scores)
    # the new season counts from zero
    body = await post_score(app_client, players[0][1], 5, "kill")
    assert body["data"]["boards"]["daily"] == {"score": 5, "rank": 1, "previous_rank": None,
                                               "rank_change": 0, "season": 2}
    assert body["data"]["boards"]["global"]["score"] == 45  # global never resets
    # audited
    row = await app_client.app[appkeys.PG].fetchrow(
        "SELECT action, detail FROM admin_audit WHERE action = 'reset_board'")
    assert orjson.loads(row["detail"]) == {"board": "daily", "season": 1}


async def test_refusals_change_nothing(app_client: Any, admin_token: str,
                                       make_player: Any) -> None:
    await daily(app_client, admin_token)
    _, token = await make_player()
    body = await reset(app_client, admin_token, "global", 409)
    assert body["error"]["code"] == "CONFLICT"
    await reset(app_client, admin_token, "nope", 404)
    await call(app_client, "POST", "/api/v1/admin/boards/daily/reset", 403,
               headers=bearer(token))
    for bad, field in (({"reset": "0 0 * *"}, "reset"), ({"reset": "0 0 * * 9"}, "reset"),
                       ({"timezone": "Mars/Olympus"}, "timezone")):
        body = await call(app_client, "PATCH", "/api/v1/admin/boards/daily", 400,
                          headers=bearer(admin_token), json=bad)
        assert field in body["error"]["fields"]
    await call(app_client, "GET", "/api/v1/boards/daily/top10?season=2", 404)
    await call(app_client, "GET", "/api/v1/boards/daily/top10?season=0", 400)
    assert await app_client.app[appkeys.PG].fetchval("SELECT count(*) FROM board_seasons") == 0
    await call(app_client, "DELETE", "/api/v1/admin/boards/daily", headers=bearer(admin_token))
    await reset(app_client, admin_token, "daily", 404)
    # the retire ended its one season (kept readable); the refused reset added none
    assert await app_client.app[appkeys.PG].fetchval("SELECT count(*) FROM board_seasons") == 1
    assert await app_client.app[appkeys.PG].fetchval(
        "SELECT season FROM boards WHERE id = 'daily'") == 1


async def test_the_schedule_resets_once_and_never_global(app_client: Any, admin_token: str,
                                                         make_player: Any) -> None:
    await daily(app_client, admin_token, timezone="Europe/Berlin")
    _, token = await make_player()
    await post_score(app_client, token, 7, "kill")
    seasons = app_client.app[appkeys.SEASONS]
    assert await seasons.check(datetime.now(UTC)) == []  # not due yet
    later = datetime.now(UTC) + timedelta(days=3)  # three midnights missed: one reset
    assert await seasons.check(later) == ["daily"]
    assert await seasons.check(later) == []
    pg = app_client.app[appkeys.PG]
    assert await pg.fetchval("SELECT season FROM boards WHERE id = 'daily'") == 2
    assert await pg.fetchval("SELECT season FROM boards WHERE id = 'global'") == 1
    detail = (await call(app_client, "GET", "/api/v1/boards/daily"))["data"]
    upcoming = datetime.fromisoformat(detail["next_reset_at"])
    assert upcoming.utcoffset() in (timedelta(hours=1), timedelta(hours=2))  # Berlin
    assert upcoming > datetime.now(UTC)


async def test_racing_processes_reset_exactly_once(app_client: Any, admin_token: str,
                                                   database_url: str, redis_url: str) -> None:
    await daily(app_client, admin_token)
    later = datetime.now(UTC) + timedelta(days=1)
    done = await racing_checks(database_url, redis_url, 4, later)
    assert sorted(b for ended in done for b in ended) == ["daily"]  # one of the four did it
    pg = app_client.app[appkeys.PG]
    assert await pg.fetchval("SELECT season FROM boards WHERE id = 'daily'") == 2
    assert await pg.fetchval("SELECT count(*) FROM board_seasons") == 1
    raw = await app_client.app[appkeys.REDIS].hget(keys.BOARDS, "daily")
    assert orjson.loads(raw)["season"] == 2


@pytest.mark.redis62  # the embedded default is Redis 6.2
async def test_a_reset_under_concurrent_updates_loses_nothing(app_client: Any, admin_token: str,
                                                              make_player: Any) -> None:
    await daily(app_client, admin_token)
    players = [await make_player() for _ in range(6)]
    acked: dict[str, int] = {uid: 0 for uid, _ in players}

    async def play(uid: str, token: str) -> None:
        for i in range(40):
            resp = await app_client.post("/api/v1/scores/update", headers=bearer(token),
                                         json={"action_type": "kill", "score_increment": 1 + i % 3})
            if resp.status == 200:
                acked[uid] += 1 + i % 3
            else:
                assert resp.status == 503, await resp.text()  # a retryable refusal only

    plays = [asyncio.ensure_future(play(uid, t)) for uid, t in players]

    async def resets() -> None:
        for _ in range(3):  # each after more updates were acknowledged: among them
            await more_acked(acked, plays)
            await reset(app_client, admin_token)

    await asyncio.gather(*plays, resets())
    await archived(app_client)
    pg = app_client.app[appkeys.PG]
    rows = await pg.fetch("SELECT user_id::text AS u, sum(score) AS s FROM board_scores"
                          " WHERE board_id = 'daily' GROUP BY user_id")
    assert {r["u"]: int(r["s"]) for r in rows} == {u: n for u, n in acked.items() if n}
    # the resets fell among the updates: several seasons got some
    assert await pg.fetchval("SELECT count(DISTINCT season) FROM board_scores") >= 2
    # each season's Redis copy (the live one) equals PostgreSQL's
    live = await pg.fetchval("SELECT season FROM boards WHERE id = 'daily'")
    assert live == 4
    page = (await call(app_client, "GET", "/api/v1/boards/daily/leaderboard?limit=100"))["data"]
    in_pg = await pg.fetch("SELECT user_id::text AS u, score FROM board_scores"
                           " WHERE board_id = 'daily' AND season = 4")
    assert {e["user_id"]: e["score"] for e in page["leaderboard"]} == {
        r["u"]: r["score"] for r in in_pg}
    assert await pg.fetchval("SELECT count(*) FROM board_seasons WHERE archived_at IS NULL") == 0
    totals = await pg.fetch("SELECT user_id::text AS u, total_score FROM scores")
    assert {r["u"]: r["total_score"] for r in totals} == {u: n for u, n in acked.items() if n}


async def test_watchers_get_the_new_season(app_client: Any, admin_token: str,
                                           make_player: Any) -> None:
    await daily(app_client, admin_token)
    _, token = await make_player()
    await post_score(app_client, token, 9, "kill")
    ws = await app_client.ws_connect(f"{WS}?board=daily&token={token}")
    first = orjson.loads((await ws.receive(timeout=5)).data)
    assert (first["season"], len(first["data"]["leaderboard"])) == (1, 1)
    await reset(app_client, admin_token)
    while True:  # the snapshot of the empty new season comes (a change may come first)
        pushed = orjson.loads((await ws.receive(timeout=5)).data)
        if pushed["season"] == 2:
            break
    assert (pushed["board"], pushed["data"]["leaderboard"]) == ("daily", [])
    await ws.close()


KILLED_MID_RESET = killed_mid_cut('reset("daily")')


async def test_a_process_killed_mid_reset_is_completed_once(app_client: Any, admin_token: str,
                                                            make_player: Any, database_url: str,
                                                            redis_url: str) -> None:
    await daily(app_client, admin_token)
    _, token = await make_player()
    await post_score(app_client, token, 4, "kill")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_MID_RESET, database_url, redis_url, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT}, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    pg = app_client.app[appkeys.PG]
    assert await pg.fetchval("SELECT season FROM boards WHERE id = 'daily'") == 1  # rolled back
    # Redis already moved: updates go to season 2 meanwhile, and count there
    body = await post_score(app_client, token, 3, "kill")
    assert body["data"]["boards"]["daily"]["season"] == 2
    assert await app_client.app[appkeys.SEASONS].check() == ["daily"]  # completed
    assert await app_client.app[appkeys.SEASONS].check() == []  # once
    await archived(app_client)
    assert await pg.fetchval("SELECT season FROM boards WHERE id = 'daily'") == 2
    assert await pg.fetchval("SELECT count(*) FROM board_seasons") == 1
    scores = await pg.fetch("SELECT season, score FROM board_scores WHERE board_id = 'daily'"
                            " ORDER BY season")
    assert [(r["season"], r["score"]) for r in scores] == [(1, 4), (2, 3)]


async def test_direct_mode_counts_each_increment_in_one_season(make_client: Any,
                                                               make_player: Any) -> None:
    client = await make_client(actions=ACTIONS, persist_mode="direct")
    client.app[appkeys.SEASONS].grace_s = 0
    _, admin = await make_player(admin=True)
    await daily(client, admin)
    players = [await make_player() for _ in range(4)]
    acked = {uid: 0 for uid, _ in players}

    async def play(uid: str, token: str) -> None:
        for _ in range(15):
            resp = await client.post("/api/v1/scores/update", headers=bearer(token),
                                     json={"action_type": "kill", "score_increment": 2})
            if resp.status == 200:
                acked[uid] += 2

    plays = [asyncio.ensure_future(play(u, t)) for u, t in players]

    async def resets() -> None:
        for _ in range(2):  # each after more updates were acknowledged: among them
            await more_acked(acked, plays)
            await reset(client, admin)

    await asyncio.gather(*plays, resets())
    await client.app[appkeys.SEASONS].check()
    pg = client.app[appkeys.PG]
    rows = await pg.fetch("SELECT user_id::text AS u, sum(score) AS s FROM board_scores"
                          " WHERE board_id = 'daily' GROUP BY user_id")
    assert {r["u"]: int(r["s"]) for r in rows} == {u: n for u, n in acked.items() if n}
    assert await pg.fetchval("SELECT count(DISTINCT season) FROM board_scores") >= 2
    page = (await call(client, "GET", "/api/v1/boards/daily/leaderboard?limit=100"))["data"]
    live = await pg.fetch("SELECT user_id::text AS u, score FROM board_scores"
                          " WHERE board_id = 'daily' AND season = 3")
    assert {e["user_id"]: e["score"] for e in page["leaderboard"]} == {
        r["u"]: r["score"] for r in live}
