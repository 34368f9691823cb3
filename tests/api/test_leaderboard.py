"""Leaderboard reads and Worker 2 on a real Redis and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.board.refresher import CacheRefresher
from scoreboard.board.registry import Boards
from scoreboard.board.top10 import Top10Cache
from scoreboard.board.views import Views
from scoreboard.store import keys
from tests.support import bearer, eventually, post_score


def global_top10(client: Any) -> Top10Cache:
    """`global`'s cache, as every board's: its view's."""
    return client.app[appkeys.VIEWS].of(client.app[appkeys.BOARDS].global_board).top10

ENTRY_KEYS = {"rank", "user_id", "username", "score", "avatar_url"}


async def seed_board(make_player: Any, client: Any, scores: list[int]) -> list[str]:
    """Players with the given scores, posted in order; returns their ids."""
    ids = []
    for i, score in enumerate(scores):
        uid, token = await make_player(f"player{i:02d}",
                                       avatar_url=f"https://cdn.example.com/{i}.png")
        await post_score(client, token, score)
        ids.append(uid)
    return ids


async def get_json(client: Any, path: str, status: int = 200, **kw: Any) -> Any:
    resp = await client.get(path, **kw)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_top10_seed_shape_ttl_and_miss_path(client: Any, make_player: Any,
                                                  redis: Redis) -> None:
    ids = await seed_board(make_player, client, [10 * (i + 1) for i in range(12)])
    await eventually(client.app[appkeys.HUB].settled, what="the hub to push the last change")
    await redis.delete(keys.TOP10)
    global_top10(client).memo.current = None
    body = await get_json(client, "/api/v1/leaderboard/top10")
    assert set(body) == {"success", "data", "timestamp"}
    data = body["data"]
    assert set(data) == {"leaderboard", "last_updated", "cache_ttl"}
    assert data["cache_ttl"] == 30
    board = data["leaderboard"]
    assert [e["rank"] for e in board] == list(range(1, 11))
    assert all(set(e) == ENTRY_KEYS for e in board)
    assert [e["user_id"] for e in board] == ids[::-1][:10]
    assert board[0] == {"rank": 1, "user_id": ids[11], "username": "player11", "score": 120,
                        "avatar_url": "https://cdn.example.com/11.png"}
    # the miss stored the seed's key: a JSON array with a 30 s TTL
    cached = json.loads(await redis.get(keys.TOP10))
    assert cached == board
    assert 0 < await redis.ttl(keys.TOP10) <= 30
    # a hit reports when the array was built: the TTL already spent
    global_top10(client).memo.current = None
    hit = (await get_json(client, "/api/v1/leaderboard/top10"))["data"]
    assert hit["leaderboard"] == board
    assert abs(hit["last_updated"] - data["last_updated"]) <= 5


async def test_top10_empty_board(client: Any) -> None:
    body = await get_json(client, "/api/v1/leaderboard/top10")
    assert body["data"]["leaderboard"] == []


async def test_top10_etag_revalidates(client: Any, make_player: Any) -> None:
    (uid,) = await seed_board(make_player, client, [5])
    hub = client.app[appkeys.HUB]
    await eventually(hub.settled, what="the hub to push the last change")
    resp = await client.get("/api/v1/leaderboard/top10")
    etag = resp.headers["ETag"]
    assert resp.headers["Cache-Control"] == "no-cache"
    entries = (await resp.json())["data"]["leaderboard"]
    # a later rebuild of the same board (another last_updated) keeps the tag
    top10 = global_top10(client)
    rebuilt = top10.remember(entries, (await resp.json())["data"]["last_updated"] + 5000)
    assert top10.memo.get() is rebuilt
    again = await client.get("/api/v1/leaderboard/top10", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag
    listed = await client.get("/api/v1/leaderboard/top10",
                              headers={"If-None-Match": '"x", ' + etag.removeprefix("W/")})
    assert listed.status == 304
    other = await client.get("/api/v1/leaderboard/top10", headers={"If-None-Match": '"x"'})
    assert other.status == 200
    # a change to the board changes the tag
    _, token = await make_player("player01")
    await post_score(client, token, 9)
    await eventually(hub.settled, what="the hub to push the new leader")
    changed = await client.get("/api/v1/leaderboard/top10", headers={"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert [e["user_id"] for e in (await changed.json())["data"]["leaderboard"]][1] == uid


async def test_job_refreshes_the_cache_and_profiles(client: Any, make_player: Any, pool: Any,
                                                    redis: Redis) -> None:
    ids = await seed_board(make_player, client, [10, 20])
    refresher = client.app[appkeys.REFRESHER]
    assert await refresher.run()
    assert [e["user_id"] for e in json.loads(await redis.get(keys.TOP10))] == ids[::-1]
    # a profile changed in PostgreSQL shows up after one refresh
    await pool.execute("UPDATE users SET username = 'renamed' WHERE id = $1", uuid.UUID(ids[0]))
    assert await refresher.run()
    names = [e["username"] for e in json.loads(await redis.get(keys.TOP10))]
    assert names == ["player01", "renamed"]


async def test_a_change_reaches_top10_within_a_refresh(make_client: Any, make_player: Any,
                                                       redis: Redis) -> None:
    client = await make_client(cache_refresh_interval_s=0.2)
    uid, token = await make_player()
    await post_score(client, token, 77)

    async def shown() -> bool:
        board = (await get_json(client, "/api/v1/leaderboard/top10"))["data"]["leaderboard"]
        return bool(board) and board[0]["user_id"] == uid and board[0]["score"] == 77

    await eventually(shown, within=5, what="the update in top10")


@pytest.mark.redis62
async def test_one_refresher_at_a_time(redis: Redis, pool: Any, make_player: Any,
                                       client: Any) -> None:
    await seed_board(make_player, client, [1])
    a, b = (CacheRefresher(redis, pool, Boards(redis, pool),
                           Views(redis, None, ttl_s=30, memo_age_s=0.1), interval_s=0.1)
            for _ in range(2))
    await redis.delete(keys.TOP10_LOCK)
    assert await a.run() is True
    for _ in range(5):
        assert await b.run() is False  # a holds the lock
        assert await a.run() is True  # and renews it
    # a dies: its lock expires (3 intervals, at least 1 s) and b takes over
    ttl = await redis.pttl(keys.TOP10_LOCK)
    assert 0 < ttl <= 1000

    async def b_took_over() -> bool:
        return await b.run()

    await eventually(b_took_over, within=5, what="b taking the lock")
    assert await a.run() is False


async def test_two_apps_schedulers_share_the_lock(make_client: Any, make_player: Any) -> None:
    apps = [await make_client(cache_refresh_interval_s=0.05) for _ in range(2)]
    _, token = await make_player()
    await post_score(apps[0], token, 3)
    refreshers = [c.app[appkeys.REFRESHER] for c in apps]

    async def refreshed_enough() -> bool:
        return sum(r.refreshes for r in refreshers) >= 10

    await eventually(refreshed_enough, within=10, what="ten refreshes")
    assert min(r.refreshes for r in refreshers) == 0  # only one process ever refreshed


async def test_page_edges(client: Any, make_player: Any) -> None:
    ids = await seed_board(make_player, client, [50, 40, 30, 20, 10])
    body = await get_json(client, "/api/v1/leaderboard?offset=0&limit=2")
    assert [e["user_id"] for e in body["data"]["leaderboard"]] == ids[:2]
    assert body["data"]["total"] == 5
    last = await get_json(client, "/api/v1/leaderboard?offset=4&limit=100")
    assert [e["rank"] for e in last["data"]["leaderboard"]] == [5]
    beyond = await get_json(client, "/api/v1/leaderboard?offset=10&limit=5")
    assert beyond["data"]["leaderboard"] == [] and beyond["data"]["total"] == 5


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=-1", "offset=-1",
                                   "limit=abc", "offset=1.5", "limit=", "limit=%201",
                                   # digits Python's isdigit() takes but int() refuses or
                                   # reads differently: superscript, circled, Arabic-Indic
                                   "limit=%C2%B2", "offset=%E2%91%A0", "limit=%D9%A5",
                                   "offset=" + "9" * 30])
async def test_bad_page_queries(client: Any, query: str) -> None:
    body = await get_json(client, f"/api/v1/leaderboard?{query}", status=400)
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["fields"]


async def test_bad_window_is_400(client: Any, make_player: Any) -> None:
    _, token = await make_player()
    await post_score(client, token, 5)
    for window in ("%C2%B2", "%D9%A5", "51", "x"):
        body = await get_json(client, f"/api/v1/leaderboard/me?window={window}", status=400,
                              headers=bearer(token))
        assert body["error"]["fields"] == {"window": ["Must be an integer from 0 to 50."]}


@pytest.mark.redis62
async def test_me_window_clamps_at_the_edges(client: Any, make_player: Any) -> None:
    players = [await make_player(f"me{i}") for i in range(6)]
    for i, (_, token) in enumerate(players):
        await post_score(client, token, 60 - 10 * i)  # ranks 1..6 in creation order
    top = await get_json(client, "/api/v1/leaderboard/me?window=2", headers=bearer(players[0][1]))
    assert top["data"]["rank"] == 1 and top["data"]["score"] == 60
    assert [e["rank"] for e in top["data"]["around"]] == [1, 2, 3]
    mid = await get_json(client, "/api/v1/leaderboard/me?window=1", headers=bearer(players[3][1]))
    assert [e["rank"] for e in mid["data"]["around"]] == [3, 4, 5]
    assert mid["data"]["user_id"] == players[3][0] and mid["data"]["username"] == "me3"
    bottom = await get_json(client, "/api/v1/leaderboard/me?window=50",
                            headers=bearer(players[5][1]))
    assert [e["rank"] for e in bottom["data"]["around"]] == [1, 2, 3, 4, 5, 6]
    alone = await get_json(client, "/api/v1/leaderboard/me?window=0",
                           headers=bearer(players[2][1]))
    assert [e["user_id"] for e in alone["data"]["around"]] == [players[2][0]]
    default = await get_json(client, "/api/v1/leaderboard/me", headers=bearer(players[5][1]))
    assert len(default["data"]["around"]) == 6  # window 5 above, none below
    for bad in ("-1", "51", "x"):
        await get_json(client, f"/api/v1/leaderboard/me?window={bad}", status=400,
                       headers=bearer(players[0][1]))


async def test_me_unranked_and_unauthenticated(client: Any, make_player: Any) -> None:
    _, token = await make_player()
    body = await get_json(client, "/api/v1/leaderboard/me", status=404, headers=bearer(token))
    assert body["error"]["code"] == "NOT_FOUND"
    body = await get_json(client, "/api/v1/leaderboard/me", status=401)
    assert body["error"]["code"] == "UNAUTHORIZED"


async def test_user_rank(client: Any, make_player: Any) -> None:
    ids = await seed_board(make_player, client, [5, 9])
    body = await get_json(client, f"/api/v1/users/{ids[0]}/rank")
    assert body["data"] == {"user_id": ids[0], "username": "player00", "score": 5, "rank": 2}
    await get_json(client, f"/api/v1/users/{uuid.uuid4()}/rank", status=404)
    bad = await get_json(client, "/api/v1/users/not-a-uuid/rank", status=400)
    assert bad["error"]["code"] == "VALIDATION_ERROR"


async def test_one_refresher_across_two_serve_processes(config: Any, tmp_path: Any) -> None:
    """Two real processes, each with its own scheduler: only one refreshes the cache."""
    import aiohttp

    from tests.support import serve, wait_ready

    def refreshes(text: str) -> float:
        line = next(x for x in text.splitlines()
                    if x.startswith("scoreboard_cache_refreshes_total "))
        return float(line.split()[1])

    fast = {"CACHE_REFRESH_INTERVAL_S": "0.05"}
    with serve(config, tmp_path, **fast) as (_, a), serve(config, tmp_path, **fast) as (_, b):
        await wait_ready(a)
        await wait_ready(b)

        async def counts() -> list[float]:
            out = []
            async with aiohttp.ClientSession() as s:
                for base in (a, b):
                    async with s.get(base + "/metrics") as r:
                        out.append(refreshes(await r.text()))
            return out

        async def enough() -> bool:
            return sum(await counts()) >= 10

        await eventually(enough, within=20, what="ten refreshes")
        assert min(await counts()) == 0
