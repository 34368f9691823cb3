"""Score metadata (DESIGN "Score metadata"): kept with the score that counts, shown in
every board read, left out of the seed's shapes, persisted, archived with a season and
restored by a reseed; against a real Redis and a real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson
import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.board.reseed import reseed
from tests.api.test_trusted import new_key, write
from tests.support import bearer, call

ACTIONS = {"kill": Action("kill", 50, 10**6), "lap": Action("lap", 100_000, 10**6)}


@pytest.fixture(params=["batch", "direct"])
async def app_client(request: pytest.FixtureRequest, make_client: Any,
                     admin_token: str) -> Any:
    client = await make_client(actions=ACTIONS, persist_mode=request.param)
    await call(client, "POST", "/api/v1/admin/boards", 201, headers=bearer(admin_token),
               json={"id": "laps", "title": "Laps", "actions": ["lap"], "order": "asc",
                     "operator": "best"})
    return client


async def persisted(client: Any) -> None:
    app = client.server.app
    if app[appkeys.CONFIG].persist_mode == "batch":
        await app[appkeys.PERSISTER].flush()


async def lap(client: Any, token: str, ms: int, meta: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"action_type": "lap", "score_increment": ms}
    if meta is not None:
        body["metadata"] = meta
    return dict(await call(client, "POST", "/api/v1/scores/update", headers=bearer(token),
                           json=body))


async def board_entry(client: Any, board: str, uid: str, query: str = "") -> dict[str, Any]:
    page = await call(client, "GET", f"/api/v1/boards/{board}/leaderboard{query}")
    return next(e for e in page["data"]["leaderboard"] if e["user_id"] == uid)


async def test_the_metadata_of_the_score_that_counts(app_client: Any,
                                                     make_player: Any) -> None:
    uid, token = await make_player()
    await lap(app_client, token, 61_000, {"car": "red", "replay": "r1"})
    await lap(app_client, token, 65_000, {"car": "blue"})  # slower: not the best
    assert (await board_entry(app_client, "laps", uid))["metadata"] == {"car": "red",
                                                                         "replay": "r1"}
    # global (incr) keeps the latest submission's
    assert (await board_entry(app_client, "global", uid))["metadata"] == {"car": "blue"}
    await lap(app_client, token, 59_000)  # better, without metadata: none
    assert (await board_entry(app_client, "laps", uid))["metadata"] is None
    await lap(app_client, token, 58_000, {"car": "green", "n": [1, 2.5, None, True]})
    want = {"car": "green", "n": [1, 2.5, None, True]}
    # every board read carries it
    reads = [
        (await call(app_client, "GET", "/api/v1/boards/laps/top10"))["data"]["leaderboard"][0],
        (await call(app_client, "GET", f"/api/v1/boards/laps/users/{uid}/rank"))["data"],
        (await call(app_client, "GET", "/api/v1/boards/laps/me", headers=bearer(token)))["data"],
        (await call(app_client, "GET", f"/api/v1/boards/laps/ranks?user_ids={uid}")
         )["data"]["leaderboard"][0],
        (await call(app_client, "GET", "/api/v1/boards/global/top10"))["data"]["leaderboard"][0],
    ]
    assert [r["metadata"] for r in reads] == [want] * 5
    me = (await call(app_client, "GET", "/api/v1/boards/laps/me", headers=bearer(token)))
    assert me["data"]["around"][0]["metadata"] == want


async def test_the_seed_shapes_stay_exact(app_client: Any, make_player: Any) -> None:
    uid, token = await make_player()
    await lap(app_client, token, 61_000, {"car": "red"})
    seed_entry = {"rank", "user_id", "username", "score", "avatar_url"}
    top = (await call(app_client, "GET", "/api/v1/leaderboard/top10"))["data"]
    assert set(top["leaderboard"][0]) == seed_entry
    page = (await call(app_client, "GET", "/api/v1/leaderboard"))["data"]
    assert set(page["leaderboard"][0]) == seed_entry
    me = (await call(app_client, "GET", "/api/v1/leaderboard/me", headers=bearer(token)))["data"]
    assert "metadata" not in me and set(me["around"][0]) == seed_entry
    rank = (await call(app_client, "GET", f"/api/v1/users/{uid}/rank"))["data"]
    assert set(rank) == {"user_id", "username", "score", "rank"}
    # and the board route of global shows it, built after the seed's memo
    board = (await call(app_client, "GET", "/api/v1/boards/global/top10"))["data"]
    assert board["leaderboard"][0]["metadata"] == {"car": "red"} and board["board"] == "global"
    top = (await call(app_client, "GET", "/api/v1/leaderboard/top10"))["data"]
    assert set(top["leaderboard"][0]) == seed_entry


@pytest.mark.parametrize("meta, says", [
    ([1, 2], "object"), ("text", "object"), (5, "object"),
    ({"pad": "x" * 1020}, "1024 bytes"), ({"nul": "a\x00b"}, "NUL"),
])
async def test_bad_metadata_is_refused(app_client: Any, make_player: Any, redis: Redis,
                                       meta: Any, says: str) -> None:
    _, token = await make_player()
    got = await call(app_client, "POST", "/api/v1/scores/update", 400, headers=bearer(token),
                     json={"action_type": "kill", "score_increment": 1, "metadata": meta})
    assert says in " ".join(got["error"]["fields"]["metadata"])
    assert await redis.xlen("{lb}:events") == 0


async def test_metadata_is_persisted_archived_and_reseeded(
        app_client: Any, admin_token: str, make_player: Any, pool: asyncpg.Pool,
        redis: Redis) -> None:
    uid, token = await make_player()
    other, _ = await make_player()
    key = (await new_key(app_client, admin_token))["key"]
    await lap(app_client, token, 61_000, {"car": "red"})
    await write(app_client, key, user_id=other, action_type="lap", score_increment=60_000,
                metadata={"car": "blue", "server": "eu-1"})
    await persisted(app_client)
    rows = await pool.fetch("SELECT user_id, metadata FROM board_scores WHERE board_id = 'laps'")
    assert {str(r["user_id"]): orjson.loads(r["metadata"]) for r in rows} == {
        uid: {"car": "red"}, other: {"car": "blue", "server": "eu-1"}}
    events = await pool.fetch("SELECT metadata FROM score_events ORDER BY seq")
    assert [orjson.loads(r["metadata"])["car"] for r in events] == ["red", "blue"]
    g = await pool.fetchval("SELECT metadata FROM scores WHERE user_id = $1", uuid.UUID(uid))
    assert orjson.loads(g) == {"car": "red"}
    # a past season carries it: read from Redis until archived, then from PostgreSQL
    await call(app_client, "POST", "/api/v1/admin/boards/laps/reset",
               headers=bearer(admin_token))
    past = await board_entry(app_client, "laps", other, "?season=1")
    assert past["metadata"] == {"car": "blue", "server": "eu-1"}
    await persisted(app_client)
    seasons = app_client.server.app[appkeys.SEASONS]
    seasons.grace_s = 0  # direct mode: no commit is still under way
    assert await seasons.archive_pending() == 1
    assert await pool.fetchval("SELECT count(*) FROM season_standings"
                               " WHERE board_id = 'laps' AND metadata IS NOT NULL") == 2
    top = (await call(app_client, "GET", "/api/v1/boards/laps/top10?season=1"))["data"]
    assert [e["metadata"]["car"] for e in top["leaderboard"]] == ["blue", "red"]
    # a wiped Redis, reseeded from PostgreSQL, shows the same metadata
    await redis.flushdb()
    await reseed(pool, redis)
    assert (await board_entry(app_client, "global", uid))["metadata"] == {"car": "red"}
    assert (await board_entry(app_client, "global", other))["metadata"]["server"] == "eu-1"
