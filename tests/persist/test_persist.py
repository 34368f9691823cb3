"""Worker 1, direct mode and reseed on a real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.auth.tokens import mint
from scoreboard.board.reseed import reseed
from scoreboard.persist.sql import write_lines
from scoreboard.persist.worker import Persister, event_line
from scoreboard.store import keys
from scoreboard.testing.servers import PostgresServer
from tests.support import bearer, eventually, pg_totals, post_score, redis_totals


@pytest.mark.redis62
async def test_flush_makes_postgres_match_redis(client: Any, make_player: Any, pool: Any,
                                                redis: Redis) -> None:
    players = [await make_player() for _ in range(5)]
    n = 0
    for i, (_, token) in enumerate(players):
        for k in range(i + 1):
            await post_score(client, token, 10 * (k + 1))
            n += 1
    persisted = await client.app[appkeys.PERSISTER].flush()
    assert persisted == n
    assert await pg_totals(pool) == await redis_totals(redis)
    assert await pool.fetchval("SELECT count(*) FROM score_events") == n
    versions = await pool.fetch("SELECT user_id, version FROM scores")
    assert sorted(r["version"] for r in versions) == [1, 2, 3, 4, 5]
    # nothing is left waiting; persisted events stay for the retention window
    assert await client.app[appkeys.PERSISTER].lag() == (0, 0.0)
    assert await redis.xlen(keys.EVENTS) == n
    # past the window they are trimmed
    client.app[appkeys.PERSISTER].retention_ms = 0
    await client.app[appkeys.PERSISTER].trim()
    assert await redis.xlen(keys.EVENTS) == 0


async def read_without_ack(redis: Redis, pool: asyncpg.Pool, consumer: str,
                           **kw: Any) -> tuple[Persister, list[Any]]:
    """A worker that reads the new events and then stops: they stay pending for it."""
    worker = Persister(redis, pool, consumer=consumer, **kw)
    await worker._ensure_group()
    reply = await redis.xreadgroup(keys.PERSIST_GROUP, consumer, {keys.EVENTS: ">"})
    return worker, reply[0][1]


async def test_replayed_batch_changes_nothing(client: Any, make_player: Any, pool: Any,
                                              redis: Redis) -> None:
    """A crash between COMMIT and XACK: the batch is read again and inserts nothing."""
    _, token = await make_player()
    for _ in range(4):
        await post_score(client, token, 25)
    worker, entries = await read_without_ack(redis, pool, "crashy")
    async with pool.acquire() as conn:
        await write_lines(conn, [event_line(i, f) for i, f in entries])  # COMMIT, no XACK
    assert await pool.fetchval("SELECT total_score FROM scores") == 100
    assert await worker.flush() == 4  # the same consumer's pending entries come back
    assert await pool.fetchval("SELECT total_score FROM scores") == 100
    assert await pool.fetchval("SELECT count(*) FROM score_events") == 4
    assert await pool.fetchval("SELECT version FROM scores") == 4


async def test_dead_consumers_entries_are_claimed(client: Any, make_player: Any, pool: Any,
                                                  redis: Redis) -> None:
    _, token = await make_player()
    for _ in range(3):
        await post_score(client, token, 1)
    await read_without_ack(redis, pool, "dead")  # then it dies
    alive = Persister(redis, pool, consumer="alive", claim_idle_ms=100)

    async def claimed() -> bool:
        await alive.flush()
        return await pool.fetchval("SELECT count(*) FROM score_events") == 3

    await eventually(claimed, what="the dead consumer's entries persisted")
    assert await pool.fetchval("SELECT total_score FROM scores") == 3


@pytest.mark.redis62
async def test_trim_keeps_pending_entries(client: Any, make_player: Any, pool: Any,
                                          redis: Redis) -> None:
    _, token = await make_player()
    await post_score(client, token, 1)
    slow, held = await read_without_ack(redis, pool, "slow", claim_idle_ms=3_600_000)
    for _ in range(3):
        await post_score(client, token, 1)
    fast = Persister(redis, pool, consumer="fast", claim_idle_ms=3_600_000)
    assert await fast.flush() == 3
    # the entry "slow" holds is still in the stream: trimming stopped below it
    assert (await redis.xrange(keys.EVENTS, count=1))[0][0] == held[0][0]
    waiting, age = await fast.lag()
    assert waiting == 1 and age >= 0
    assert await slow.flush() == 1
    assert await redis.xlen(keys.EVENTS) == 0
    assert await pool.fetchval("SELECT total_score FROM scores") == 4


@pytest.mark.redis62
async def test_poison_event_goes_to_dead_letter(client: Any, make_player: Any, pool: Any,
                                                redis: Redis) -> None:
    _, token = await make_player()
    await post_score(client, token, 7)
    ghost = str(uuid.uuid4())  # no such user in PostgreSQL
    await redis.xadd(keys.EVENTS, {"u": ghost, "a": "level_complete", "i": "5", "s": "99",
                                    "t": "1700000000000"})
    await redis.xadd(keys.EVENTS, {"garbage": "yes"})
    await post_score(client, token, 3)
    worker = client.app[appkeys.PERSISTER]
    assert await worker.flush() == 4
    assert await pool.fetchval("SELECT total_score FROM scores") == 10
    dead = await redis.xrange(keys.DEAD)
    assert len(dead) == 2
    assert {f.get(b"u") for _, f in dead} == {ghost.encode(), None}
    assert worker.dead_lettered == 2
    assert await worker.lag() == (0, 0.0)


async def test_postgres_outage_loses_nothing(make_client: Any, make_player: Any,
                                             redis: Redis, tmp_path: Path) -> None:
    from scoreboard.persist.migrations import migrate

    server = PostgresServer(tmp_path / "pg")
    server.init()
    server.start()
    try:
        conn = await asyncpg.connect(server.url)
        await migrate(conn)
        await conn.close()
        own = await asyncpg.create_pool(server.url, min_size=1, max_size=2)
        client = await make_client(database_url=server.url, persist_interval_s=0.1,
                                   actions={"kill": Action("kill", 50, 10**6)})
        from scoreboard.players import users

        config = client.app[appkeys.CONFIG]
        made = [await users.create(own, redis, f"out{i}", f"out{i}@x.io", None) for i in range(5)]
        tokens = [mint(config, u["id"]) for u in made]
        acked = 0

        async def load(rounds: int) -> None:
            nonlocal acked
            for r in range(rounds):
                for t in tokens:
                    resp = await client.post("/api/v1/scores/update", headers=bearer(t),
                                             json={"action_type": "kill", "score_increment": 1})
                    assert resp.status == 200, await resp.text()  # batch mode keeps taking them
                    acked += 1
                del r

        await load(3)
        server.stop("immediate")
        ready = await client.get("/readyz")
        body = await ready.json()
        assert ready.status == 503 and body["error"]["fields"]["checks"]["postgres"] == "down"
        loop = asyncio.get_running_loop()
        down_until = loop.time() + 10  # about ten seconds of outage, under load
        while loop.time() < down_until:
            await load(1)
        assert (await client.app[appkeys.PERSISTER].lag())[0] > 0  # events wait in the stream
        server.start()

        async def caught_up() -> bool:
            try:
                return await pg_totals(own) == await redis_totals(redis)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return False

        await eventually(caught_up, within=30, what="PostgreSQL catching up")
        assert sum((await pg_totals(own)).values()) == acked
        assert await own.fetchval("SELECT count(*) FROM score_events") == acked
        await own.close()
    finally:
        server.stop("immediate")


@pytest.mark.redis62
async def test_direct_mode_commits_first(make_client: Any, make_player: Any, pool: Any,
                                         redis: Redis) -> None:
    client = await make_client(persist_mode="direct")
    uid, token = await make_player()
    for k in range(1, 4):
        body = await post_score(client, token, 10)
        assert body["data"]["new_score"] == 10 * k
        row = await pool.fetchrow("SELECT total_score, version FROM scores WHERE user_id = $1",
                                  uuid.UUID(uid))
        assert (row["total_score"], row["version"]) == (10 * k, k)  # right after each 200
    assert await pool.fetchval("SELECT count(*) FROM score_events") == 3
    assert await redis.xlen(keys.EVENTS) == 0  # no stream in this mode
    first = await post_score(client, token, 5, key="d-1")
    again = await post_score(client, token, 5, key="d-1")
    assert again == first
    assert await pool.fetchval("SELECT total_score FROM scores") == 35
    await post_score(client, token, 6, key="d-1", status=422)
    await post_score(client, token, 5000, status=422)  # caps as in batch mode
    # a retry while the first request is between its admission and its settling
    await redis.set(keys.idem_key(uid, "busy"), '{"h": "level_complete:7", "p": 1}')
    busy = await post_score(client, token, 7, key="busy", status=409)
    assert busy["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert await pool.fetchval("SELECT total_score FROM scores") == 35


async def test_direct_mode_postgres_down_is_503_and_redis_untouched(
        make_client: Any, make_player: Any, redis: Redis, tmp_path: Path) -> None:
    from scoreboard.persist.migrations import migrate
    from scoreboard.players import users

    server = PostgresServer(tmp_path / "pg")
    server.init()
    server.start()
    try:
        conn = await asyncpg.connect(server.url)
        await migrate(conn)
        await conn.close()
        own = await asyncpg.create_pool(server.url, min_size=1, max_size=2)
        client = await make_client(database_url=server.url, persist_mode="direct")
        user = await users.create(own, redis, "direct", "direct@x.io", None)
        token = mint(client.app[appkeys.CONFIG], user["id"])
        await post_score(client, token, 10)
        await own.close()
        before = await redis_totals(redis), await redis.get(keys.BOARDSEQ)
        rate = await redis.get(keys.rate_key(user["id"], "level_complete"))
        server.stop("immediate")
        body = await post_score(client, token, 10, key="while-down", status=503)
        assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert (await redis_totals(redis), await redis.get(keys.BOARDSEQ)) == before
        assert await redis.get(keys.rate_key(user["id"], "level_complete")) == rate
        assert await redis.get(keys.idem_key(user["id"], "while-down")) is None
        server.start()

        async def accepted() -> Any:
            resp = await client.post("/api/v1/scores/update", json={
                "action_type": "level_complete", "score_increment": 10},
                headers={**bearer(token), "Idempotency-Key": "while-down"})
            return await resp.json() if resp.status == 200 else None

        body = await eventually(accepted, what="direct mode recovering")
        assert body["data"]["new_score"] == 20
    finally:
        server.stop("immediate")


@pytest.mark.redis62
async def test_reseed_restores_ranks_and_ties(client: Any, make_player: Any, pool: Any,
                                              redis: Redis) -> None:
    players = sorted([await make_player() for _ in range(6)])
    # ties at 100 reached in an order that is not the id order
    for idx in (3, 0, 5, 1):
        await post_score(client, players[idx][1], 100)
    await post_score(client, players[2][1], 300)
    await post_score(client, players[4][1], 40)
    await post_score(client, players[4][1], 60)  # reaches 100 last
    await client.app[appkeys.PERSISTER].flush()
    before = await redis.zrevrange(keys.SCORES, 0, -1, withscores=True)
    page_before = await (await client.get("/api/v1/leaderboard?limit=100")).json()

    await redis.flushdb()
    counts = await reseed(pool, redis)
    assert counts == {"players": 6, "hidden": 0}
    assert await redis.zrevrange(keys.SCORES, 0, -1, withscores=True) == before
    client.app[appkeys.VIEWS].of(client.app[appkeys.BOARDS].global_board).top10.memo.current = None
    page_after = await (await client.get("/api/v1/leaderboard?limit=100")).json()
    assert page_after["data"] == page_before["data"]
    # new increments keep ordering after the old ones: the sequence resumed past them
    await post_score(client, players[0][1], 200)
    top = await (await client.get(f"/api/v1/users/{players[0][0]}/rank")).json()
    assert top["data"]["rank"] == 2  # 300 ties 300 of players[2], who got there first


async def test_reseed_restores_every_board_with_ties_and_bans(
        make_client: Any, make_player: Any, pool: Any, redis: Redis) -> None:
    from scoreboard.players.moderation import Moderation

    client = await make_client()
    admin_id, admin = await make_player(admin=True)
    for board, order, operator in (("laps", "asc", "best"), ("kills", "desc", "incr")):
        resp = await client.post("/api/v1/admin/boards", headers=bearer(admin), json={
            "id": board, "title": board, "actions": ["kill"], "order": order,
            "operator": operator})
        assert resp.status == 201
    players = [await make_player() for _ in range(5)]
    for idx, value in ((3, 20), (0, 20), (4, 10), (1, 30), (2, 20)):  # ties at 20
        await post_score(client, players[idx][1], value, "kill")
    await Moderation(pool, redis).set_banned(admin_id, players[1][0], True)
    await client.app[appkeys.PERSISTER].flush()
    boards = ("global", "laps", "kills")
    before = {b: await (await client.get(f"/api/v1/boards/{b}/leaderboard?limit=100")).json()
              for b in boards}
    assert [e["score"] for e in before["laps"]["data"]["leaderboard"]] == [10, 20, 20, 20]

    await redis.flushdb()
    assert await reseed(pool, redis) == {"players": 15, "hidden": 3}
    await client.app[appkeys.BOARDS].load()
    for b in boards:
        after = await (await client.get(f"/api/v1/boards/{b}/leaderboard?limit=100")).json()
        assert after["data"] == before[b]["data"], b
    # the banned player stays hidden everywhere, and unban brings them back in place
    await Moderation(pool, redis).set_banned(admin_id, players[1][0], False)
    laps = await (await client.get("/api/v1/boards/laps/leaderboard")).json()
    assert [e["score"] for e in laps["data"]["leaderboard"]] == [10, 20, 20, 20, 30]


async def test_a_redis_without_the_group_gets_it_again(client: Any, make_player: Any,
                                                      pool: Any, redis: Redis) -> None:
    """A promoted replica (or a wiped Redis) without the persist group: the next runs
    make it again from the stream's start, and what PostgreSQL has is not doubled."""
    _, token = await make_player()
    worker = client.app[appkeys.PERSISTER]
    await post_score(client, token, 5)
    assert await worker.flush() == 1
    await redis.xgroup_destroy(keys.EVENTS, keys.PERSIST_GROUP)
    await post_score(client, token, 7)
    await worker.job()  # NOGROUP: noted
    worker._retry_at = 0  # the backoff's wait, skipped
    await worker.job()
    assert await pg_totals(pool) == await redis_totals(redis)
    assert await pool.fetchval("SELECT count(*) FROM score_events") == 2
