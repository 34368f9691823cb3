"""POST /api/v1/scores/update on a real Redis: shapes, atomicity, ties, refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from scoreboard.actions import Action
from scoreboard.auth.tokens import mint
from scoreboard.store import keys
from tests.support import bearer, eventually, post_score

URL = "/api/v1/scores/update"


async def board_state(redis: Redis) -> tuple[Any, int, Any]:
    """Everything an update may change: the board, the event stream, the board seq."""
    scores = await redis.zrange(keys.SCORES, 0, -1, withscores=True)
    return scores, await redis.xlen(keys.EVENTS), await redis.get(keys.BOARDSEQ)


@pytest.mark.redis62
async def test_seed_shape_and_first_score(client: Any, make_player: Any) -> None:
    uid, token = await make_player()
    body = await post_score(client, token, 100)
    assert set(body) == {"success", "data", "timestamp"}
    assert body["data"] == {
        "user_id": uid, "previous_score": 0, "new_score": 100, "rank_change": 0,
        "current_rank": 1, "previous_rank": None,
        # DESIGN "Boards and seasons": every board the action fed
        "boards": {"global": {"score": 100, "rank": 1, "previous_rank": None, "rank_change": 0,
                              "season": 1}},
    }
    body = await post_score(client, token, 50)
    assert body["data"]["previous_score"] == 100 and body["data"]["new_score"] == 150
    assert body["data"]["previous_rank"] == 1 and body["data"]["rank_change"] == 0


async def test_rank_change_when_overtaking(client: Any, make_player: Any) -> None:
    players = [await make_player() for _ in range(3)]
    for i, (_, token) in enumerate(players):
        await post_score(client, token, 100 * (3 - i))  # ranks 1, 2, 3
    body = await post_score(client, players[2][1], 250)  # 100 + 250 = 350: first
    assert body["data"]["previous_rank"] == 3
    assert body["data"]["current_rank"] == 1
    assert body["data"]["rank_change"] == 2


async def test_concurrent_increments_sum_exactly(client: Any, make_player: Any,
                                                 redis: Redis) -> None:
    players = [await make_player() for _ in range(50)]

    async def one(token: str, inc: int) -> int:
        resp = await client.post(URL, headers=bearer(token),
                                 json={"action_type": "level_complete", "score_increment": inc})
        assert resp.status == 200, await resp.text()
        return int((await resp.json())["data"]["new_score"])

    jobs = [one(token, i + 1) for i, (_, token) in enumerate(players) for _ in range(20)]
    results = await asyncio.gather(*jobs)
    assert len(results) == 1000
    for i, (uid, _) in enumerate(players):
        member = await redis.hget(keys.MEMBER, uid)
        assert await redis.zscore(keys.SCORES, member) == 20 * (i + 1)
    assert await redis.xlen(keys.EVENTS) == 1000
    # every new_score a player saw is distinct: the steps were serialized
    for i in range(50):
        seen = results[i * 20:(i + 1) * 20]
        assert sorted(seen) == [(k + 1) * (i + 1) for k in range(20)]


@pytest.mark.redis62
async def test_ties_go_to_who_reached_the_score_first(client: Any, make_player: Any) -> None:
    # a reaches 100 first, then b, then c (c in two steps); z sits above everyone.
    # a < b < c as ids: a board that broke ties by member name (ZREVRANGE) would
    # list them c, b, a, so this order can only come from the tie encoding.
    tied = sorted([await make_player() for _ in range(3)])
    (a, ta), (b, tb), (c, tc) = tied
    z, tz = await make_player()
    await post_score(client, tz, 500)
    await post_score(client, tc, 40)
    await post_score(client, ta, 100)
    await post_score(client, tb, 100)
    last = await post_score(client, tc, 60)
    assert last["data"]["current_rank"] == 4  # tied with a and b, but reached 100 last
    order = [z, a, b, c]

    page = await (await client.get("/api/v1/leaderboard?limit=10")).json()
    assert [e["user_id"] for e in page["data"]["leaderboard"]] == order
    assert [e["rank"] for e in page["data"]["leaderboard"]] == [1, 2, 3, 4]
    for rank, uid in enumerate(order, start=1):
        got = await (await client.get(f"/api/v1/users/{uid}/rank")).json()
        assert got["data"]["rank"] == rank


BAD_BODIES = [
    (b'{"action_type": "level_complete", "score_increment": NaN}', 400),
    (b'{"action_type": "level_complete", "score_increment": Infinity}', 400),
    (b'{"action_type": "level_complete", "score_increment": true}', 400),
    (b'{"action_type": "level_complete", "score_increment": "5"}', 400),
    (b'{"action_type": "level_complete", "score_increment": 2.5}', 400),
    (b'{"action_type": "level_complete", "score_increment": 1e309}', 400),
    (b'{"action_type": "level_complete", "score_increment": 10.0}', 400),
    (b'{"action_type": "level_complete", "score_increment": null}', 400),
    (b'{"action_type": "level_complete"}', 400),
    (b'{"score_increment": 5}', 400),
    (b'{"action_type": "level_complete", "score_increment": 0}', 400),
    (b'{"action_type": "level_complete", "score_increment": -5}', 400),
    (b'{"action_type": "level_complete", "score_increment": 5, "user_id": "x"}', 400),
    (b'{"action_type": "level_complete", "score_increment": 5, "score": 99}', 400),
    (b'{"action_type": "no_such_action", "score_increment": 5}', 400),
    (b'{"action_type": 7, "score_increment": 5}', 400),
    (b'[1, 2]', 400),
    (b'"text"', 400),
    (b'{"action_type": "level_complete", ', 400),
    (b'', 400),
    (b'{"action_type": "level_complete", "score_increment": 1001}', 422),
    (b'{"action_type": "level_complete", "score_increment": 99999999999999999999}', 400),
]


@pytest.mark.parametrize(("raw", "status"), BAD_BODIES)
async def test_bad_bodies_change_nothing(client: Any, make_player: Any, redis: Redis,
                                         raw: bytes, status: int) -> None:
    _, token = await make_player()
    before = await board_state(redis)
    resp = await client.post(URL, data=raw,
                             headers={**bearer(token), "Content-Type": "application/json"})
    body = await resp.json()
    assert resp.status == status, body
    assert body["success"] is False
    expected = {400: "VALIDATION_ERROR", 422: "SCORE_LIMIT_EXCEEDED"}[status]
    assert body["error"]["code"] == expected
    assert body["error"]["message"]
    assert "Traceback" not in await resp.text()
    assert await board_state(redis) == before


async def test_field_messages_name_the_field(client: Any, make_player: Any) -> None:
    _, token = await make_player()
    resp = await client.post(URL, headers=bearer(token),
                             json={"action_type": "level_complete", "score_increment": True,
                                   "user_id": "someone-else"})
    fields = (await resp.json())["error"]["fields"]
    assert set(fields) == {"score_increment", "user_id"}


async def test_content_type_and_size(client: Any, make_player: Any, redis: Redis) -> None:
    _, token = await make_player()
    before = await board_state(redis)
    ok_body = b'{"action_type": "level_complete", "score_increment": 5}'
    resp = await client.post(URL, data=ok_body,
                             headers={**bearer(token), "Content-Type": "text/plain"})
    assert resp.status == 415
    assert (await resp.json())["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    big = b'{"action_type": "level_complete", "score_increment": 5, "pad": "' + b"x" * 70000 + b'"}'
    resp = await client.post(URL, data=big,
                             headers={**bearer(token), "Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks() -> Any:
        for _ in range(80):
            yield b" " * 1024

    resp = await client.post(URL, data=chunks(),
                             headers={**bearer(token), "Content-Type": "application/json"})
    assert resp.status == 413
    assert await board_state(redis) == before


@pytest.mark.redis62
async def test_total_above_2_pow_53_is_refused(make_client: Any, make_player: Any,
                                               redis: Redis) -> None:
    big = 2**53 - 1
    client = await make_client(actions={"jackpot": Action("jackpot", big, 100)})
    _, token = await make_player()
    body = await post_score(client, token, big - 1, "jackpot")
    assert body["data"]["new_score"] == big - 1
    body = await post_score(client, token, 1, "jackpot")
    assert body["data"]["new_score"] == big  # exactly, not rounded
    before = await board_state(redis)
    refused = await post_score(client, token, 1, "jackpot", status=422)
    assert refused["error"]["code"] == "SCORE_LIMIT_EXCEEDED"
    assert await board_state(redis) == before


@pytest.mark.redis62
async def test_rate_limit_is_atomic(make_client: Any, make_player: Any, redis: Redis) -> None:
    client = await make_client(actions={"boss": Action("boss", 100, 5)})
    uid, token = await make_player()

    async def one() -> Any:
        resp = await client.post(URL, headers=bearer(token),
                                 json={"action_type": "boss", "score_increment": 1})
        return resp.status, resp.headers.get("Retry-After"), await resp.json()

    results = await asyncio.gather(*(one() for _ in range(20)))
    statuses = sorted(r[0] for r in results)
    assert statuses == [200] * 5 + [429] * 15
    for status, retry_after, body in results:
        if status == 429:
            assert body["error"]["code"] == "RATE_LIMITED"
            assert retry_after is not None and 1 <= int(retry_after) <= 60
    member = await redis.hget(keys.MEMBER, uid)
    assert await redis.zscore(keys.SCORES, member) == 5
    assert await redis.xlen(keys.EVENTS) == 5


async def test_rate_limit_is_per_player_and_action(make_client: Any, make_player: Any) -> None:
    client = await make_client(actions={"boss": Action("boss", 100, 1),
                                        "coin": Action("coin", 100, 1)})
    _, t1 = await make_player()
    _, t2 = await make_player()
    await post_score(client, t1, 1, "boss")
    await post_score(client, t1, 1, "boss", status=429)
    await post_score(client, t1, 1, "coin")  # another action has its own budget
    await post_score(client, t2, 1, "boss")  # another player too


@pytest.mark.redis62
async def test_idempotent_retries(client: Any, make_player: Any, redis: Redis) -> None:
    _, token = await make_player()
    first = await post_score(client, token, 30, key="retry-1")
    again = await post_score(client, token, 30, key="retry-1")
    assert again == first  # the first response, timestamp included
    member = await redis.hget(keys.MEMBER, first["data"]["user_id"])
    assert await redis.zscore(keys.SCORES, member) == 30  # counted once
    assert await redis.xlen(keys.EVENTS) == 1

    reused = await post_score(client, token, 31, key="retry-1", status=422)
    assert reused["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await redis.zscore(keys.SCORES, member) == 30
    ttl = await redis.ttl(keys.idem_key(first["data"]["user_id"], "retry-1"))
    assert ttl > 24 * 3600 - 60


async def test_idempotency_keys_are_per_player(client: Any, make_player: Any) -> None:
    _, t1 = await make_player()
    _, t2 = await make_player()
    a = await post_score(client, t1, 10, key="same")
    b = await post_score(client, t2, 10, key="same")
    assert a["data"]["user_id"] != b["data"]["user_id"]
    assert b["data"]["new_score"] == 10


async def test_new_keys_do_not_escape_the_rate_limit(make_client: Any, make_player: Any) -> None:
    client = await make_client(actions={"boss": Action("boss", 100, 2)})
    _, token = await make_player()
    await post_score(client, token, 1, "boss", key="k1")
    await post_score(client, token, 1, "boss", key="k2")
    await post_score(client, token, 1, "boss", key="k3", status=429)
    # a replay of an accepted request is answered even at the limit
    await post_score(client, token, 1, "boss", key="k1")


async def test_bad_idempotency_key(client: Any, make_player: Any) -> None:
    _, token = await make_player()
    body = await post_score(client, token, 1, key="x" * 200, status=400)
    assert "Idempotency-Key" in body["error"]["fields"]


async def test_redis_down_gives_503_then_recovers(make_client: Any, pool: Any, config: Any,
                                                  tmp_path: Any) -> None:
    from scoreboard.players import users
    from scoreboard.testing.servers import RedisServer

    server = RedisServer(tmp_path / "r", aof=True)
    server.start()
    own = Redis.from_url(server.url)
    try:
        client = await make_client(redis_url=server.url, request_timeout_s=0.5)
        user = await users.create(pool, own, "downtime", "down@x.io", None)
        token = mint(config, user["id"])
        await post_score(client, token, 10)

        server.stop()
        body = await post_score(client, token, 10, status=503)
        assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert "Traceback" not in str(body)

        server.start()  # same port, same data

        async def accepted() -> Any:
            resp = await client.post(URL, headers=bearer(token),
                                     json={"action_type": "level_complete", "score_increment": 5})
            assert resp.status in (200, 503)
            return await resp.json() if resp.status == 200 else None

        data = (await eventually(accepted, what="updates accepted again"))["data"]
        assert data["previous_score"] == 10 and data["new_score"] == 15  # the 503 counted nothing
    finally:
        await own.aclose()
        server.stop()
