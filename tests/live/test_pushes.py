"""Pushes on every board kind (DESIGN "Pushes on every board kind"): watchers get a push
whenever the top 10 they see changes, including when a player leaves it; over real
WebSockets, against a real Redis and a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.store import keys
from tests.support import bearer, eventually

ACTIONS = {"lap": Action("lap", 100_000, 10**6)}
WS = "/ws/leaderboard"


@pytest.fixture
async def app_client(make_client: Any) -> Any:
    return await make_client(actions=ACTIONS)


async def post(client: Any, token: str, value: int) -> None:
    resp = await client.post("/api/v1/boards/b/scores", headers=bearer(token),
                             json={"action_type": "lap", "score_increment": value})
    assert resp.status == 200, await resp.text()


async def top_ids(ws: Any, after: int = -1) -> list[str]:
    """The top 10 (as user ids) of the next push that tells of a change after board
    sequence ``after`` (fails if none comes: nothing announced it)."""
    while True:
        message = orjson.loads((await ws.receive(timeout=10)).data)
        assert message["board"] == "b"
        if message["seq"] > after:
            return [e["user_id"] for e in message["data"]["leaderboard"]]


async def quiet_seq(client: Any, redis: Redis) -> int:
    """The board's sequence once this process's hub has pushed every change so far."""
    hub = client.app[appkeys.HUB]
    await eventually(lambda: hub.settled("b"), what="the hub pushing the setup's changes")
    return int(await redis.get(keys.board_keys("b").boardseq) or 0)


# (order, operator, the target's first value, its second): the second moves the target
# out of the top 10 on the kinds where a player's own update can; elsewhere None, and a
# newcomer pushes the 10th out
KINDS = [
    ("desc", "latest", 1000, 1),
    ("asc", "latest", 1, 5000),
    ("asc", "incr", 1, 5000),
    ("desc", "incr", 1000, None),
    ("desc", "best", 1000, None),
    ("asc", "best", 1, None),
]


@pytest.mark.parametrize("order,operator,first,second", KINDS)
async def test_a_player_leaving_the_top_10_is_pushed(app_client: Any, make_player: Any,
                                                     redis: Redis, order: str, operator: str,
                                                     first: int, second: int | None) -> None:
    admin = (await make_player(admin=True))[1]
    resp = await app_client.post("/api/v1/admin/boards", headers=bearer(admin), json={
        "id": "b", "title": "B", "actions": ["lap"], "order": order, "operator": operator})
    assert resp.status == 201
    target, *others = [await make_player() for _ in range(12)]
    await post(app_client, target[1], first)
    for i, (_, token) in enumerate(others[:10]):  # ranks 2-11 behind the target
        await post(app_client, token, 100 + i if order == "desc" else 200 - i)
    ws = await app_client.ws_connect(f"{WS}?board=b&token={target[1]}")
    snapshot = await top_ids(ws)
    assert snapshot[0] == target[0] and len(snapshot) == 10
    seq = await quiet_seq(app_client, redis)
    if second is not None:
        await post(app_client, target[1], second)  # out by their own update
        gone = target[0]
    else:
        await post(app_client, others[10][1], 5000 if order == "desc" else 2)  # a newcomer
        gone = snapshot[-1]
    ids = await top_ids(ws, after=seq)
    assert gone not in ids
    page = await (await app_client.get("/api/v1/boards/b/leaderboard?limit=10")).json()
    assert ids == [e["user_id"] for e in page["data"]["leaderboard"]]
    await ws.close()


async def test_a_ban_of_a_top_10_player_is_pushed_on_every_board(app_client: Any,
                                                                 make_player: Any,
                                                                 redis: Redis) -> None:
    admin = (await make_player(admin=True))[1]
    resp = await app_client.post("/api/v1/admin/boards", headers=bearer(admin), json={
        "id": "b", "title": "B", "actions": ["lap"], "order": "asc", "operator": "latest"})
    assert resp.status == 201
    cheater, honest = await make_player(), await make_player()
    await post(app_client, cheater[1], 1)
    await post(app_client, honest[1], 50)
    ws = await app_client.ws_connect(f"{WS}?board=b&token={honest[1]}")
    assert await top_ids(ws) == [cheater[0], honest[0]]
    seq = await quiet_seq(app_client, redis)
    resp = await app_client.post(f"/api/v1/admin/users/{cheater[0]}/ban", headers=bearer(admin))
    assert resp.status == 200
    assert await top_ids(ws, after=seq) == [honest[0]]
    await ws.close()
