"""Anomaly flags (DESIGN "Anomaly flags"): each detector flags its cheater and leaves a
varied honest player alone; one open flag per player, detector and board; the review
queue's routes; the webhook; several processes sharing the work. The detectors read
the real stream of a real Redis: most tests write events into it as the update path
does, with the times they need; one goes through the API."""

from __future__ import annotations

import asyncio
import random
import struct
import time
import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.flags.detector import Detector
from scoreboard.store import keys
from tests.support import bearer, call, eventually

ACTIONS = {"kill": Action("kill", 50, 10**6), "lap": Action("lap", 100_000, 10**6)}


@pytest.fixture
async def app_client(make_client: Any) -> Any:
    return await make_client(actions=ACTIONS, flag_rate_min_players=20)


async def event(redis: Redis, uid: str, value: int, at_ms: int, action: str = "kill",
                boards: str = "global/1/incr/desc") -> None:
    """An event as update.lua writes it."""
    await redis.xadd(keys.EVENTS, {"u": uid, "a": action, "i": str(value), "s": "1",
                                   "t": str(at_ms), "b": boards})


async def detect(client: Any) -> int:
    """A pass, then the boards' rate judgments made due (at most one a second each) and
    one more pass to judge them."""
    detector = client.server.app[appkeys.DETECTOR]
    read = int(await detector.run_pass())
    async for key in detector.redis.scan_iter(match="{lb}:det:r:*:judged"):
        await detector.redis.delete(key)
    return read + int(await detector.run_pass())


async def flags(pool: asyncpg.Pool, **where: str) -> list[Any]:
    rows = await pool.fetch("SELECT * FROM flags ORDER BY seq")
    return [r for r in rows if all(str(r[k]) == v for k, v in where.items())]


def now_ms() -> int:
    return int(time.time() * 1000)


def human_times(n: int, seed: int, before_ms: int = 600_000) -> list[int]:
    """``n`` instants of a person's submissions (lognormal gaps) ending before now."""
    rng = random.Random(seed)
    gaps = [int(rng.lognormvariate(8, 0.8)) for _ in range(n)]
    t = now_ms() - before_ms
    out = []
    for gap in gaps:
        t += gap
        out.append(t)
    return out


async def test_cadence_flags_a_bot_not_a_human(app_client: Any, make_player: Any,
                                              redis: Redis, pool: asyncpg.Pool) -> None:
    bot, _ = await make_player()
    human, _ = await make_player()
    rng = random.Random(7)
    start = now_ms() - 3_600_000
    t_bot = t_human = start
    for _ in range(80):
        t_bot += int(30_000 * rng.uniform(0.98, 1.02))  # every 30 s, give or take 2%
        await event(redis, bot, rng.randint(5, 40), t_bot)
        # a human: lognormal gaps, and now and then a break
        t_human += int(rng.lognormvariate(10, 0.7)) + (600_000 if rng.random() < 0.05 else 0)
        await event(redis, human, rng.randint(5, 40), t_human)
    assert await detect(app_client) == 160
    got = await flags(pool, detector="cadence")
    assert [str(f["user_id"]) for f in got] == [bot]
    evidence = orjson.loads(got[0]["evidence"])
    assert evidence["cv"] < 0.1 and 28 < evidence["mean_interval_s"] < 32
    assert got[0]["board"] == "global" and got[0]["status"] == "open"
    # more of the same evidence: still one open flag
    for _ in range(20):
        t_bot += 30_000
        await event(redis, bot, 10, t_bot)
    await detect(app_client)
    assert len(await flags(pool, detector="cadence")) == 1


async def test_at_cap_flags_a_cap_hugger_not_a_player_who_sometimes_hits_it(
        app_client: Any, make_player: Any, redis: Redis, pool: asyncpg.Pool) -> None:
    hugger, _ = await make_player()
    player, _ = await make_player()
    rng = random.Random(3)
    t = now_ms() - 1_000_000
    for _ in range(60):
        t += rng.randint(5_000, 60_000)
        await event(redis, hugger, 50 if rng.random() < 0.95 else 49, t)
        await event(redis, player, 50 if rng.random() < 0.15 else rng.randint(5, 45), t + 7)
    await detect(app_client)
    got = await flags(pool, detector="at_cap")
    assert [str(f["user_id"]) for f in got] == [hugger]
    assert orjson.loads(got[0]["evidence"])["cap"] == 50


@pytest.mark.redis62  # the embedded Redis is 6.2
async def test_rate_flags_a_gain_far_above_the_boards_players(
        make_client: Any, make_player: Any, redis: Redis, pool: asyncpg.Pool) -> None:
    # a two-minute window: the board, played for five, has had a window of play
    app_client = await make_client(actions=ACTIONS, flag_rate_min_players=20,
                                   flag_rate_window_s=120)
    rng = random.Random(11)
    honest = [(await make_player())[0] for _ in range(40)]
    cheater, _ = await make_player()
    t0 = now_ms() - 300_000  # the last five minutes
    for uid in honest:
        skill = rng.uniform(0.5, 2.0)  # some players are three times as good as others
        for _ in range(rng.randint(8, 15)):
            await event(redis, uid, max(1, int(rng.gauss(20, 6) * skill)),
                        t0 + rng.randint(0, 290_000))
    for i in range(200):  # some thirty times the median player's gain
        await event(redis, cheater, 50, t0 + i * 1_400 + rng.randint(0, 300))
    await detect(app_client)
    got = await flags(pool, detector="rate")
    assert [str(f["user_id"]) for f in got] == [cheater]
    evidence = orjson.loads(got[0]["evidence"])
    assert evidence["population"] == 41 and evidence["gain"] > 10 * evidence["median"]
    assert got[0]["value"] >= 10  # the robust z-score, against FLAG_RATE_Z


async def test_jump_flags_an_impossible_score_not_an_improvement(
        app_client: Any, admin_token: str, make_player: Any, redis: Redis,
        pool: asyncpg.Pool) -> None:
    await call(app_client, "POST", "/api/v1/admin/boards", 201, headers=bearer(admin_token),
               json={"id": "hi", "title": "High score", "actions": ["kill"],
                     "operator": "best"})
    rng = random.Random(5)
    players = [(await make_player())[0] for _ in range(10)]
    t = now_ms() - 600_000
    boards = "global/1/incr/desc,hi/1/best/desc"
    for _ in range(4):
        for uid in players:
            t += 1_000
            await event(redis, uid, rng.randint(10, 30), t, boards=boards)
    improver, cheater = players[0], players[1]
    await event(redis, improver, 45, t + 1_000, boards=boards)  # better, not beyond
    await event(redis, cheater, 50, t + 2_000, boards=boards)  # under 3x their best
    await detect(app_client)
    assert await flags(pool, detector="jump") == []
    laps = "lap/1/best/asc"  # an asc board: an impossibly fast lap
    for uid in players:
        for _ in range(3):
            t += 1_000
            await event(redis, uid, rng.randint(60_000, 70_000), t, action="lap", boards=laps)
    await event(redis, cheater, 15_000, t + 1_000, action="lap", boards=laps)
    await event(redis, improver, 58_000, t + 2_000, action="lap", boards=laps)
    # a second impossible lap: the first did not move the board's top
    await event(redis, players[2], 14_000, t + 3_000, action="lap", boards=laps)
    await detect(app_client)
    got = await flags(pool, detector="jump")
    assert [(str(f["user_id"]), f["board"]) for f in got] == [(cheater, "lap"),
                                                              (players[2], "lap")]
    evidence = orjson.loads(got[0]["evidence"])
    assert evidence["score"] == 15_000 and evidence["own_best"] >= 60_000


async def test_the_review_queue(app_client: Any, admin_token: str, make_player: Any,
                               redis: Redis, pool: asyncpg.Pool) -> None:
    cheats = [(await make_player())[0] for _ in range(3)]
    _, player_token = await make_player()
    for n, uid in enumerate(cheats):
        for at in human_times(40, n):
            await event(redis, uid, 50, at)
    await detect(app_client)
    h = bearer(admin_token)
    await call(app_client, "GET", "/api/v1/admin/flags", 403, headers=bearer(player_token))
    await call(app_client, "GET", "/api/v1/admin/flags", 401)
    first = (await call(app_client, "GET", "/api/v1/admin/flags?limit=2", headers=h))["data"]
    assert len(first["flags"]) == 2 and first["next_cursor"]
    rest = (await call(app_client, "GET",
                       f"/api/v1/admin/flags?limit=2&cursor={first['next_cursor']}",
                       headers=h))["data"]
    listed = first["flags"] + rest["flags"]
    assert rest["next_cursor"] is None
    assert len(listed) == 3 and {f["detector"] for f in listed} == {"at_cap"}
    assert [f["created_at"] for f in listed] == sorted((f["created_at"] for f in listed),
                                                       reverse=True)
    assert {f["user_id"] for f in listed} == set(cheats) and listed[0]["username"]
    for bad in ("?status=maybe", "?limit=0", "?cursor=x"):
        await call(app_client, "GET", f"/api/v1/admin/flags{bad}", 400, headers=h)
    dismissed, banned = listed[0], listed[1]
    path = "/api/v1/admin/flags/{}/resolve"
    got = await call(app_client, "POST", path.format(dismissed["id"]), headers=h,
                     json={"resolution": "dismiss"})
    assert got["data"]["status"] == "dismissed" and got["data"]["resolved_by"]
    got = await call(app_client, "POST", path.format(dismissed["id"]), 409, headers=h,
                     json={"resolution": "ban"})
    assert got["error"]["code"] == "CONFLICT"
    await call(app_client, "POST", path.format(uuid.uuid4()), 404, headers=h,
               json={"resolution": "ban"})
    await call(app_client, "POST", path.format(banned["id"]), 400, headers=h,
               json={"resolution": "delete"})
    await call(app_client, "POST", path.format(banned["id"]), 403,
               headers=bearer(player_token), json={"resolution": "ban"})
    got = await call(app_client, "POST", path.format(banned["id"]), headers=h,
                     json={"resolution": "ban"})
    assert got["data"]["status"] == "banned"
    # the existing ban: hidden from every ranking, their updates refused
    await call(app_client, "GET", f"/api/v1/users/{banned['user_id']}/rank", 404)
    assert await pool.fetchval("SELECT banned_at IS NOT NULL FROM users WHERE id = $1",
                               uuid.UUID(banned["user_id"]))
    open_ = (await call(app_client, "GET", "/api/v1/admin/flags", headers=h))["data"]["flags"]
    assert [f["id"] for f in open_] == [listed[2]["id"]]
    every = (await call(app_client, "GET", "/api/v1/admin/flags?status=all",
                        headers=h))["data"]["flags"]
    assert len(every) == 3
    # a dismissed flag's player may be flagged again, by new evidence
    for at in human_times(40, 9, 100_000):
        await event(redis, dismissed["user_id"], 50, at)
    await detect(app_client)
    assert len(await flags(pool, user_id=dismissed["user_id"])) == 2


async def test_a_players_latest_events_say_who_wrote_them(
        app_client: Any, admin_token: str, make_player: Any) -> None:
    uid, token = await make_player()
    key = (await call(app_client, "POST", "/api/v1/admin/keys", 201,
                      headers=bearer(admin_token), json={"name": "m"}))["data"]
    for n in (1, 2):
        await call(app_client, "POST", "/api/v1/scores/update", headers=bearer(token),
                   json={"action_type": "kill", "score_increment": n})
    await call(app_client, "POST", "/api/v1/scores/update", headers=bearer(key["key"]),
               json={"action_type": "kill", "score_increment": 3, "user_id": uid})
    await app_client.server.app[appkeys.PERSISTER].flush()
    got = (await call(app_client, "GET", f"/api/v1/admin/users/{uid}/events?limit=2",
                      headers=bearer(admin_token)))["data"]["events"]
    assert [(e["value"], e["via"]) for e in got] == [(3, key["id"]), (2, "player")]
    assert got[0]["boards"] == ["global"] and got[0]["action_type"] == "kill"
    await call(app_client, "GET", f"/api/v1/admin/users/{uuid.uuid4()}/events", 404,
               headers=bearer(admin_token))
    await call(app_client, "GET", f"/api/v1/admin/users/{uid}/events", 403,
               headers=bearer(token))


@pytest.mark.redis62  # the embedded Redis is 6.2
async def test_through_the_api_and_two_processes_share_the_work(
        make_client: Any, admin_token: str, make_player: Any, redis: Redis,
        pool: asyncpg.Pool) -> None:
    """Two processes' detectors take turns on the same stream: every event is folded
    once (the cap-hugger's share stays exact), one flag per cheater."""
    one = await make_client(actions=ACTIONS)
    two = await make_client(actions=ACTIONS)
    hugger, token = await make_player()
    for i in range(60):
        await call(one if i % 2 else two, "POST", "/api/v1/scores/update",
                   headers=bearer(token), json={"action_type": "kill", "score_increment": 50})
        if i % 7 == 0:
            await asyncio.gather(detect(one), detect(two))
    await asyncio.gather(detect(one), detect(two))
    got = await flags(pool, detector="at_cap")
    assert [str(f["user_id"]) for f in got] == [hugger]
    sketch = await redis.hget(f"{{lb}}:det:u:{hugger}", "a:kill")
    assert struct.unpack("<dddddd", sketch)[0] == 60  # submissions folded
    pending = await redis.xpending(keys.EVENTS, keys.DETECT_GROUP)
    assert pending["pending"] == 0


async def test_the_webhook_gets_each_flag_once_after_a_500(
        make_client: Any, aiohttp_server: Any, make_player: Any, redis: Redis) -> None:
    received: list[dict[str, Any]] = []
    answers = iter([500])

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        status = next(answers, 200)
        if status == 200:
            received.append(body)
        return web.Response(status=status)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    server = await aiohttp_server(receiver)
    client = await make_client(actions=ACTIONS,
                               flag_webhook_url=str(server.make_url("/hook")))
    hugger, _ = await make_player()
    for at in human_times(40, 1, 100_000):
        await event(redis, hugger, 50, at)
    await detect(client)
    await eventually(lambda: asyncio.sleep(0, len(received)), what="the webhook delivery")
    assert [(r["user_id"], r["detector"]) for r in received] == [(hugger, "at_cap")]
    await detect(client)  # nothing new: nothing sent again
    assert client.server.app[appkeys.WEBHOOK].queue.empty()
    assert len(received) == 1


async def test_a_detector_never_slows_scoring(app_client: Any, make_player: Any,
                                              redis: Redis) -> None:
    """Without its group the detectors' pass recreates it; the update path never
    reads or waits for the detectors."""
    _, token = await make_player()
    await redis.delete(keys.EVENTS)
    await call(app_client, "POST", "/api/v1/scores/update", headers=bearer(token),
               json={"action_type": "kill", "score_increment": 5})
    detector: Detector = app_client.server.app[appkeys.DETECTOR]
    assert await detector.run_pass() in (0, 1)
    assert await detector.run_pass() == 0
