"""Leagues (DESIGN "Competitions: tournaments and leagues"): placement in buckets in
order of arrival, bucket reads, promotion and relegation once at each season's end,
a watcher's own bucket. Against a real Redis and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.board.league import tiers_key
from tests.support import bearer, call, post_score

ACTIONS = {"kill": Action("kill", 100, 10**6)}
BOARDS = "/api/v1/admin/boards"
LEAGUE = {"tiers": ["bronze", "silver"], "bucket_size": 3, "promote": 1, "relegate": 1}


@pytest.fixture(params=["batch", "direct"])
async def app_client(make_client: Any, request: pytest.FixtureRequest) -> Any:
    """Each test in both persistence modes: the competitions' rules are the same Lua
    (update.lua in batch mode, admit.lua in direct mode)."""
    client = await make_client(actions=ACTIONS, persist_mode=request.param)
    client.app[appkeys.SEASONS].grace_s = 0  # direct mode: archive at once
    return client


async def league(client: Any, admin: str, status: int = 201, **fields: Any) -> Any:
    return await call(client, "POST", BOARDS, status, headers=bearer(admin),
                      json={"id": "ladder", "title": "Ladder", "actions": ["kill"],
                            "reset": "0 0 * * 1", **{"league": LEAGUE, **fields}})


async def me(client: Any, token: str) -> dict[str, Any]:
    return dict((await call(client, "GET", "/api/v1/boards/ladder/me",
                            headers=bearer(token)))["data"])


async def end_season(client: Any, admin: str) -> None:
    await call(client, "POST", f"{BOARDS}/ladder/reset", headers=bearer(admin))


async def archive(client: Any) -> None:
    await client.app[appkeys.PERSISTER].flush()
    await client.app[appkeys.SEASONS].check()


async def tiers_in_pg(client: Any) -> dict[str, int]:
    rows = await client.app[appkeys.PG].fetch(
        "SELECT user_id::text AS u, tier FROM league_tiers WHERE board_id = 'ladder'")
    return {r["u"]: r["tier"] for r in rows}


async def test_players_fill_buckets_in_order_of_arrival(app_client: Any, admin_token: str,
                                                        make_player: Any) -> None:
    await league(app_client, admin_token)
    players = [await make_player() for _ in range(7)]
    for i, (_, token) in enumerate(players):
        await post_score(app_client, token, 10 + i, "kill")
    for i, (uid, token) in enumerate(players):
        mine = await me(app_client, token)
        assert (mine["tier"], mine["bucket"]) == ("bronze", 1 + i // 3), i
        # `around` is the whole bucket, ranked in it
        bucket = [e["user_id"] for e in mine["around"]]
        assert sorted(bucket) == sorted(u for u, _ in players[3 * (i // 3):3 * (i // 3) + 3])
        assert mine["bucket_rank"] == bucket.index(uid) + 1
    got = (await call(app_client, "GET", "/api/v1/boards/ladder/buckets/2"))["data"]
    assert (got["board"], got["season"], got["bucket"], got["tier"]) == ("ladder", 1, 2,
                                                                         "bronze")
    assert [(e["rank"], e["user_id"], e["score"]) for e in got["leaderboard"]] == [
        (1, players[5][0], 15), (2, players[4][0], 14), (3, players[3][0], 13)]
    rank = (await call(app_client, "GET",
                       f"/api/v1/boards/ladder/users/{players[6][0]}/rank"))["data"]
    assert (rank["tier"], rank["bucket"], rank["bucket_rank"], rank["rank"]) == ("bronze", 3,
                                                                                1, 1)
    await call(app_client, "GET", "/api/v1/boards/ladder/buckets/4", 404)
    await call(app_client, "GET", "/api/v1/boards/ladder/buckets/0", 400)
    await call(app_client, "GET", "/api/v1/boards/global/buckets/1", 404)  # no league
    # the seat race of a bucket: eight at once, never more than three in one bucket
    more = [await make_player() for _ in range(8)]
    await asyncio.gather(*(post_score(app_client, t, 1, "kill") for _, t in more))
    sizes = []
    for n in range(3, 7):
        found = await app_client.get(f"/api/v1/boards/ladder/buckets/{n}")
        if found.status == 200:
            sizes.append(len((await found.json())["data"]["leaderboard"]))
    assert sum(sizes) == 9 and max(sizes) == 3  # bucket 3 had one, now full; 4, 5 hold 6


async def test_promotion_and_relegation_at_each_seasons_end(app_client: Any,
                                                            admin_token: str,
                                                            make_player: Any) -> None:
    """Season 1 (all bronze): each bucket's best goes up; the bottom tier has no one to
    relegate. Season 2: the top tier's best can't go up, its worst goes down; a player
    who did not play keeps their tier; players placed before the archive ran get the
    tier the archive then writes."""
    await league(app_client, admin_token)
    p = [await make_player() for _ in range(8)]
    ids = [u for u, _ in p]
    for i, value in enumerate([30, 20, 10, 5, 50, 1, 7]):  # buckets [0 1 2] [3 4 5] [6]
        await post_score(app_client, p[i][1], value, "kill")
    await end_season(app_client, admin_token)
    # back before the archive: placed by the season that ended, from Redis's keys
    await post_score(app_client, p[0][1], 40, "kill")  # silver (promoted)
    await post_score(app_client, p[1][1], 3, "kill")  # bronze (stays)
    assert (await me(app_client, p[0][1]))["tier"] == "silver"
    assert (await me(app_client, p[1][1]))["tier"] == "bronze"
    await archive(app_client)
    assert await tiers_in_pg(app_client) == {ids[0]: 1, ids[4]: 1, ids[6]: 1}
    pg = app_client.app[appkeys.PG]
    rows = await pg.fetch("SELECT user_id::text AS u, bucket, tier, bucket_rank, next_tier"
                          " FROM season_standings WHERE board_id = 'ladder' AND season = 1")
    standing = {r["u"]: (r["bucket"], r["tier"], r["bucket_rank"], r["next_tier"]) for r in rows}
    assert standing[ids[2]] == (1, 0, 3, 0)  # last of bucket 1, but bronze is the bottom
    assert standing[ids[6]] == (3, 0, 1, 1)  # alone: first, so promoted
    past = (await call(app_client, "GET", "/api/v1/boards/ladder/buckets/2?season=1"))["data"]
    assert [e["user_id"] for e in past["leaderboard"]] == [ids[4], ids[3], ids[5]]
    assert past["tier"] == "bronze"
    rank = (await call(app_client, "GET",
                       f"/api/v1/boards/ladder/users/{ids[4]}/rank?season=1"))["data"]
    assert (rank["tier"], rank["bucket"], rank["bucket_rank"]) == ("bronze", 2, 1)
    redis = app_client.app[appkeys.REDIS]
    assert int(await redis.get(f"{tiers_key('ladder')}:through")) == 1
    assert not await redis.exists("{lb}:b:ladder:placed")  # season 1's keys dropped
    # season 2: p6 and p0 in silver with p7 (new: bronze); p4 does not play
    await post_score(app_client, p[6][1], 2, "kill")
    await post_score(app_client, p[7][1], 9, "kill")
    assert (await me(app_client, p[6][1]))["tier"] == "silver"
    assert (await me(app_client, p[7][1]))["tier"] == "bronze"
    await end_season(app_client, admin_token)
    await archive(app_client)
    # p0 topped silver: stays (no tier above); p6 was silver's last: down to bronze;
    # p4 did not play: still silver; p7 topped its bronze bucket: up
    assert await tiers_in_pg(app_client) == {ids[0]: 1, ids[4]: 1, ids[6]: 0, ids[7]: 1}
    await post_score(app_client, p[4][1], 1, "kill")
    await post_score(app_client, p[6][1], 1, "kill")
    assert (await me(app_client, p[4][1]))["tier"] == "silver"
    assert (await me(app_client, p[6][1]))["tier"] == "bronze"


async def test_a_promotion_cut_short_is_redone_whole(app_client: Any, admin_token: str,
                                                     make_player: Any) -> None:
    """A process that dies midway through a season's promotion (here: Redis fails after
    the first chunk of buckets) leaves it to be done again, whole and once; the archive
    waits for it."""
    await league(app_client, admin_token)
    p = [await make_player() for _ in range(7)]
    for i, (_, token) in enumerate(p):  # buckets [0 1 2] [3 4 5] [6]
        await post_score(app_client, token, 10 + i, "kill")
    await end_season(app_client, admin_token)
    seasons = app_client.app[appkeys.SEASONS]
    redis = app_client.app[appkeys.REDIS]
    pg = app_client.app[appkeys.PG]
    real, calls = seasons._promote, []

    async def dies_after_one(**kw: Any) -> Any:
        calls.append(kw)
        if len(calls) > 1:
            raise ConnectionError("the process died midway")
        return await real(**kw)

    from scoreboard.board import league as module

    step, module.BUCKETS_PER_CALL = module.BUCKETS_PER_CALL, 1  # one bucket a call
    seasons._promote = dies_after_one
    try:
        await app_client.app[appkeys.PERSISTER].flush()
        with pytest.raises(ConnectionError):
            await seasons.check()
    finally:
        seasons._promote = real
        module.BUCKETS_PER_CALL = step
    assert await tiers_in_pg(app_client) == {}
    assert await pg.fetchval("SELECT count(*) FROM board_seasons WHERE tiers_shown_at IS NULL"
                             " OR archived_at IS NULL") == 1  # not archived either
    assert await redis.get(f"{tiers_key('ladder')}:through") is None
    await seasons.check()  # redone whole, then archived
    assert await tiers_in_pg(app_client) == {p[2][0]: 1, p[5][0]: 1, p[6][0]: 1}
    assert int(await redis.get(f"{tiers_key('ladder')}:through")) == 1
    assert int(await redis.hget(tiers_key("ladder"), p[6][0])) == 1
    assert not await redis.exists("{lb}:b:ladder:placed")
    assert await pg.fetchval("SELECT count(*) FROM board_seasons WHERE archived_at IS NOT NULL"
                             " AND tiers_shown_at IS NOT NULL") == 1
    assert await seasons.check() == []  # once


async def test_a_watcher_gets_their_own_bucket(app_client: Any, admin_token: str,
                                               make_player: Any) -> None:
    await league(app_client, admin_token)
    p = [await make_player() for _ in range(4)]
    for _, token in p[:3]:
        await post_score(app_client, token, 5, "kill")
    ws = await app_client.ws_connect(f"/ws/leaderboard?board=ladder&token={p[0][1]}")

    async def next_bucket() -> dict[str, Any]:
        while True:
            msg = orjson.loads((await ws.receive(timeout=5)).data)
            if msg["type"] == "bucket_update":
                return dict(msg)

    first = await next_bucket()
    assert (first["board"], first["data"]["bucket"], first["data"]["tier"]) == (
        "ladder", 1, "bronze")
    assert (first["data"]["promote"], first["data"]["relegate"]) == (1, 1)
    assert len(first["data"]["leaderboard"]) == 3
    await post_score(app_client, p[3][1], 50, "kill")  # bucket 2: not this watcher's
    await post_score(app_client, p[2][1], 30, "kill")
    pushed = await next_bucket()
    assert pushed["data"]["bucket"] == 1
    assert pushed["data"]["leaderboard"][0] == {**pushed["data"]["leaderboard"][0],
                                                "user_id": p[2][0], "score": 35, "rank": 1}
    await ws.close()


async def test_bad_leagues_are_refused_and_change_nothing(app_client: Any,
                                                          admin_token: str) -> None:
    cases = [
        ({"reset": None}, "league"),
        ({"league": {**LEAGUE, "promote": 2, "relegate": 2}}, "league"),
        ({"league": {**LEAGUE, "tiers": ["gold", "gold"]}}, "league"),
        ({"league": {**LEAGUE, "tiers": ["only"]}}, "league"),
        ({"league": {**LEAGUE, "bucket_size": "30"}}, "league"),
        ({"league": {**LEAGUE, "extra": 1}}, "league"),
        ({"max_size": 10}, "league"),
    ]
    for fields, named in cases:
        got = await league(app_client, admin_token, 400, **fields)
        assert named in got["error"]["fields"], (fields, got)
    await call(app_client, "GET", "/api/v1/boards/ladder", 404)


async def test_reseed_restores_the_tiers(app_client: Any, admin_token: str,
                                         make_player: Any) -> None:
    """A Redis that lost everything gets each league player's tier back from
    PostgreSQL with `scoreboard reseed`: a promoted player is placed in their tier."""
    from scoreboard.board.reseed import reseed

    await league(app_client, admin_token)
    p = [await make_player() for _ in range(2)]
    await post_score(app_client, p[0][1], 9, "kill")
    await post_score(app_client, p[1][1], 1, "kill")
    await end_season(app_client, admin_token)
    await archive(app_client)
    redis, pg = app_client.app[appkeys.REDIS], app_client.app[appkeys.PG]
    await redis.flushdb()
    await reseed(pg, redis)
    assert int(await redis.hget(tiers_key("ladder"), p[0][0])) == 1
    assert int(await redis.get(f"{tiers_key('ladder')}:through")) == 1
    await app_client.app[appkeys.BOARDS].load()
    await post_score(app_client, p[0][1], 2, "kill")
    assert (await me(app_client, p[0][1]))["tier"] == "silver"
