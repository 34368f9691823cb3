"""Boards and seasons under requests that would hurt them (DESIGN "Limits"): sparse
schedules, many boards, bad definitions, history reads in bulk, reloads; against a real
Redis and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.board import schedule
from scoreboard.board.admin import BOARDS_PER_ACTION
from scoreboard.board.registry import store
from scoreboard.store import keys
from tests.support import bearer, call, pg_totals, post_score

ACTIONS = {"kill": Action("kill", 50, 10**6), "lap": Action("lap", 100_000, 10**6),
           "coin": Action("coin", 10, 10**6)}


@pytest.fixture
async def app_client(make_client: Any) -> Any:
    return await make_client(actions=ACTIONS)


async def create(client: Any, admin: str, status: int = 201, **board: Any) -> Any:
    return await call(client, "POST", "/api/v1/admin/boards", status, headers=bearer(admin),
                      json={"title": board.get("id", "b").title(), "actions": ["kill"], **board})


async def live_ids(client: Any) -> list[str]:
    return [b["id"] for b in (await call(client, "GET", "/api/v1/boards"))["data"]["boards"]]


async def test_sparse_schedules_are_worked_out_once_per_season(app_client: Any,
                                                              admin_token: str) -> None:
    """A schedule's next instant is searched for once per definition and season, never per
    read or per check; reads of boards with sparse schedules leave the service answering."""
    for i, cron in enumerate(("0 0 29 2 1", "0 0 1 1 *", "30 6 1 6 *")):
        await create(app_client, admin_token, id=f"sparse{i}", reset=cron)
    schedule.season_end.cache_clear()
    seasons = app_client.app[appkeys.SEASONS]
    for _ in range(30):
        for i in range(3):
            detail = (await call(app_client, "GET", f"/api/v1/boards/sparse{i}"))["data"]
            assert detail["next_reset_at"] is not None
        await seasons.check()
        assert (await app_client.get("/healthz")).status == 200
    # one search per board (its current season), whatever the number of reads and checks
    assert schedule.season_end.cache_info().misses == 3


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 0 29 2 *"])
async def test_a_schedule_that_fires_too_rarely_is_refused(app_client: Any, admin_token: str,
                                                          cron: str) -> None:
    # never (31 and 30 February), or not within 366 days (the next 29 February is later)
    now = datetime.now(UTC)
    if cron == "0 0 29 2 *" and (schedule.next_after(cron, "UTC", now) - now).days <= 366:
        pytest.skip("a 29 February falls within 366 days of today")
    body = await create(app_client, admin_token, 400, id="rare", reset=cron)
    assert "reset" in body["error"]["fields"]
    await create(app_client, admin_token, id="often", reset="0 0 * * *")
    body = await call(app_client, "PATCH", "/api/v1/admin/boards/often", 400,
                      headers=bearer(admin_token), json={"reset": cron})
    assert "reset" in body["error"]["fields"]
    assert await live_ids(app_client) == ["global", "often"]


async def test_the_schedule_is_checked_in_the_boards_own_zone(app_client: Any,
                                                             admin_token: str) -> None:
    """A zone change alone re-checks the stored schedule, in the new zone."""
    await create(app_client, admin_token, id="zoned", reset="0 0 * * *")
    changed = await call(app_client, "PATCH", "/api/v1/admin/boards/zoned",
                         headers=bearer(admin_token), json={"timezone": "Pacific/Kiritimati"})
    assert changed["data"]["timezone"] == "Pacific/Kiritimati"
    detail = (await call(app_client, "GET", "/api/v1/boards/zoned"))["data"]
    assert detail["next_reset_at"].endswith("T00:00:00+14:00")


async def test_boards_max_is_a_409_that_changes_nothing(make_client: Any,
                                                        admin_token: str) -> None:
    client = await make_client(actions=ACTIONS, boards_max=3)  # global + 2
    await create(client, admin_token, id="one")
    await create(client, admin_token, id="two", actions=["lap"])
    body = await create(client, admin_token, 409, id="three", actions=["coin"])
    assert body["error"]["code"] == "CONFLICT" and "BOARDS_MAX" in body["error"]["message"]
    assert await live_ids(client) == ["global", "one", "two"]
    await call(client, "DELETE", "/api/v1/admin/boards/two", headers=bearer(admin_token))
    await create(client, admin_token, id="three", actions=["coin"])  # a place came free


async def test_at_most_twenty_boards_per_action(app_client: Any, admin_token: str) -> None:
    for i in range(BOARDS_PER_ACTION - 1):  # global is fed by kill too
        await create(app_client, admin_token, id=f"k{i:02d}")
    body = await create(app_client, admin_token, 409, id="k99")
    assert body["error"]["code"] == "CONFLICT" and "kill" in body["error"]["message"]
    await create(app_client, admin_token, id="laps", actions=["lap"])
    body = await call(app_client, "PATCH", "/api/v1/admin/boards/laps", 409,
                      headers=bearer(admin_token), json={"actions": ["lap", "kill"]})
    assert "kill" in body["error"]["message"]
    assert len(await live_ids(app_client)) == BOARDS_PER_ACTION + 1
    listed = (await call(app_client, "GET", "/api/v1/boards/laps"))["data"]
    assert listed["actions"] == ["lap"]
    # a change that keeps a board's own share is no new place taken
    await call(app_client, "PATCH", "/api/v1/admin/boards/k00", headers=bearer(admin_token),
               json={"actions": ["kill", "lap"]})


@pytest.mark.parametrize("title", ["nul\x00byte", "\x1b[31mred", "tab\there", "line\u2028break"])
async def test_titles_are_printable(app_client: Any, admin_token: str, title: str) -> None:
    body = await create(app_client, admin_token, 400, id="t", title=title)
    assert "title" in body["error"]["fields"]
    await create(app_client, admin_token, id="t", title="Zeit für Rekorde 🏁")
    body = await call(app_client, "PATCH", "/api/v1/admin/boards/t", 400,
                      headers=bearer(admin_token), json={"title": title})
    assert "title" in body["error"]["fields"]


@pytest.mark.parametrize("field,value", [
    ("actions", [7]), ("actions", [None]), ("actions", "kill"), ("actions", [["kill"]]),
    ("title", 5), ("order", 1), ("operator", ["best"]), ("reset", 0), ("timezone", {}),
    ("id", 3), ("actions", {"0": "kill"}),
])
async def test_every_admin_field_is_type_checked(app_client: Any, admin_token: str,
                                                 field: str, value: Any) -> None:
    board = {"id": "typed", "title": "Typed", "actions": ["kill"], field: value}
    body = await call(app_client, "POST", "/api/v1/admin/boards", 400,
                      headers=bearer(admin_token), json=board)
    assert body["success"] is False and field in body["error"]["fields"]
    assert await live_ids(app_client) == ["global"]
    if field != "id":
        await create(app_client, admin_token, id="typed")
        body = await call(app_client, "PATCH", "/api/v1/admin/boards/typed", 400,
                          headers=bearer(admin_token), json={field: value})
        assert field in body["error"]["fields"]


async def test_global_keeps_its_order_and_operator(app_client: Any, admin_token: str) -> None:
    for change in ({"order": "asc"}, {"operator": "best"}):
        body = await call(app_client, "PATCH", "/api/v1/admin/boards/global", 409,
                          headers=bearer(admin_token), json=change)
        assert body["error"]["code"] == "CONFLICT"
    detail = (await call(app_client, "GET", "/api/v1/boards/global"))["data"]
    assert (detail["order"], detail["operator"]) == ("desc", "incr")


def hgetalls(info: dict[str, Any]) -> int:
    return int(info.get("cmdstat_hgetall", {}).get("calls", 0))


async def test_unknown_ids_and_lists_do_not_reload_the_definitions(
        app_client: Any, admin_token: str, redis: Redis) -> None:
    await create(app_client, admin_token, id="known")
    await call(app_client, "GET", "/api/v1/boards")
    before = hgetalls(await redis.info("commandstats"))
    for i in range(20):
        await call(app_client, "GET", f"/api/v1/boards/nope{i}/top10", 404)
        await call(app_client, "GET", f"/api/v1/boards/nope{i}", 404)
        await call(app_client, "GET", "/api/v1/boards/NOT%20AN%20ID/top10", 404)
        assert await live_ids(app_client) == ["global", "known"]
    assert hgetalls(await redis.info("commandstats")) == before
    # a change elsewhere is still seen: the version moved, so the list is read again
    await create(app_client, admin_token, id="later")
    assert await live_ids(app_client) == ["global", "known", "later"]


async def test_concurrent_reloads_read_the_definitions_once(app_client: Any,
                                                           admin_token: str,
                                                           redis: Redis) -> None:
    boards = app_client.app[appkeys.BOARDS]
    await create(app_client, admin_token, id="known")
    await redis.incr(keys.BOARDS_VERSION)  # as another process's change would
    before = hgetalls(await redis.info("commandstats"))
    await asyncio.gather(*(boards.load() for _ in range(20)))
    assert hgetalls(await redis.info("commandstats")) - before == 1
    assert boards.version == int(await redis.get(keys.BOARDS_VERSION))


async def test_a_missed_boards_message_is_caught_up_by_the_season_check(
        make_client: Any, admin_token: str, make_player: Any, redis: Redis) -> None:
    one, two = await make_client(actions=ACTIONS), await make_client(actions=ACTIONS)
    await create(one, admin_token, id="quiet")
    _, token = await make_player()
    await call(two, "POST", "/api/v1/boards/quiet/scores", headers=bearer(token),
               json={"action_type": "kill", "score_increment": 3})
    board = two.app[appkeys.BOARDS].cached("quiet")
    assert board is not None
    # retired in Redis with no Pub/Sub message (one that a process missed)
    await store(redis, board, retired=True)
    await two.app[appkeys.SEASONS].check()
    await call(two, "GET", "/api/v1/boards/quiet/top10", 404)
    assert await live_ids(two) == ["global"]


async def test_an_ended_season_reads_as_it_ended_at_once(app_client: Any, admin_token: str,
                                                         make_player: Any) -> None:
    """No Worker 1 run between the reset and the reads: the ended season is read from
    what Redis held at the cut, never emptier."""
    await create(app_client, admin_token, id="daily", reset="0 0 * * *")
    players = [await make_player() for _ in range(3)]
    for i, (_, token) in enumerate(players):
        await call(app_client, "POST", "/api/v1/boards/daily/scores", headers=bearer(token),
                   json={"action_type": "kill", "score_increment": 10 * (i + 1)})
    top = (await call(app_client, "GET", "/api/v1/boards/daily/top10"))["data"]["leaderboard"]
    await call(app_client, "POST", "/api/v1/admin/boards/daily/reset", headers=bearer(admin_token))
    past = (await call(app_client, "GET", "/api/v1/boards/daily/top10?season=1"))["data"]
    assert (past["leaderboard"], past["season"]) == (top, 1)
    uid = players[0][0]
    rank = (await call(app_client, "GET", f"/api/v1/boards/daily/users/{uid}/rank?season=1"))
    assert (rank["data"]["rank"], rank["data"]["score"]) == (3, 10)
    seasons = (await call(app_client, "GET", "/api/v1/boards/daily/seasons"))["data"]["seasons"]
    assert [(s["season"], s["players"]) for s in seasons] == [(2, 0), (1, 3)]
    assert seasons[1]["winner"]["user_id"] == players[2][0]
    # archived, it reads the same from PostgreSQL
    await app_client.app[appkeys.PERSISTER].flush()
    assert await app_client.app[appkeys.SEASONS].archive_pending() == 1
    again = (await call(app_client, "GET", "/api/v1/boards/daily/top10?season=1"))["data"]
    assert again["leaderboard"] == top
    assert (await call(app_client, "GET", "/api/v1/boards/daily/seasons"))["data"][
        "seasons"] == seasons


async def test_seasons_are_paged_newest_first(app_client: Any, admin_token: str,
                                              make_player: Any) -> None:
    await create(app_client, admin_token, id="daily", reset="0 0 * * *")
    _, token = await make_player()
    for _ in range(5):  # seasons 1-5 end, 6 is live
        await call(app_client, "POST", "/api/v1/boards/daily/scores", headers=bearer(token),
                   json={"action_type": "kill", "score_increment": 1})
        await call(app_client, "POST", "/api/v1/admin/boards/daily/reset",
                   headers=bearer(admin_token))
    await app_client.app[appkeys.PERSISTER].flush()
    await app_client.app[appkeys.SEASONS].archive_pending()
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        data = (await call(app_client, "GET", f"/api/v1/boards/daily/seasons{query}"))["data"]
        assert len(data["seasons"]) <= 2
        seen += [s["season"] for s in data["seasons"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1]
    full = (await call(app_client, "GET", "/api/v1/boards/daily/seasons"))["data"]
    assert [s["season"] for s in full["seasons"]] == seen and full["next_cursor"] is None
    for bad in ("limit=0", "limit=101", "cursor=0", "cursor=x", "cursor=-1"):
        body = await call(app_client, "GET", f"/api/v1/boards/daily/seasons?{bad}", 400)
        assert bad.split("=")[0] in body["error"]["fields"]


async def test_a_retired_boards_history_stays_readable(app_client: Any, admin_token: str,
                                                       make_player: Any) -> None:
    await create(app_client, admin_token, id="old", reset="0 0 * * *")
    players = [await make_player() for _ in range(2)]
    for i, (_, token) in enumerate(players):
        await call(app_client, "POST", "/api/v1/boards/old/scores", headers=bearer(token),
                   json={"action_type": "kill", "score_increment": 5 * (i + 1)})
    await call(app_client, "POST", "/api/v1/admin/boards/old/reset", headers=bearer(admin_token))
    await call(app_client, "POST", "/api/v1/boards/old/scores", headers=bearer(players[0][1]),
               json={"action_type": "kill", "score_increment": 7})
    await call(app_client, "DELETE", "/api/v1/admin/boards/old", headers=bearer(admin_token))
    await call(app_client, "GET", "/api/v1/boards/old/top10", 404)  # live reads: gone
    for before_archive in (True, False):
        s1 = (await call(app_client, "GET", "/api/v1/boards/old/top10?season=1"))["data"]
        assert [e["score"] for e in s1["leaderboard"]] == [10, 5]
        s2 = (await call(app_client, "GET", "/api/v1/boards/old/leaderboard?season=2"))["data"]
        assert [(e["user_id"], e["score"]) for e in s2["leaderboard"]] == [(players[0][0], 7)]
        listed = (await call(app_client, "GET", "/api/v1/boards/old/seasons"))["data"]
        assert [(s["season"], s["players"]) for s in listed["seasons"]] == [(2, 1), (1, 2)]
        if before_archive:
            await app_client.app[appkeys.PERSISTER].flush()
            assert await app_client.app[appkeys.SEASONS].archive_pending() == 2
    await call(app_client, "GET", "/api/v1/boards/old/top10?season=3", 404)
    await call(app_client, "GET", "/api/v1/boards/never/seasons", 404)


async def test_history_reads_in_bulk_never_starve_persistence(
        make_client: Any, admin_token: str, make_player: Any, pool: Any) -> None:
    """50 concurrent history reads, blocked in PostgreSQL behind a lock, while updates
    run: the reads get at most half the pool and answer 503 when they wait too long;
    updates answer 200 and Worker 1 persists them meanwhile."""
    client = await make_client(actions=ACTIONS, pg_pool_size=4, request_timeout_s=0.5)
    await create(client, admin_token, id="daily", reset="0 0 * * *")
    players = [await make_player() for _ in range(5)]
    await call(client, "POST", "/api/v1/boards/daily/scores", headers=bearer(players[0][1]),
               json={"action_type": "kill", "score_increment": 1})
    await call(client, "POST", "/api/v1/admin/boards/daily/reset", headers=bearer(admin_token))
    await client.app[appkeys.PERSISTER].flush()
    await client.app[appkeys.SEASONS].archive_pending()
    async with pool.acquire() as locker, locker.transaction():
        await locker.execute("LOCK TABLE board_seasons, season_standings IN ACCESS EXCLUSIVE MODE")
        paths = [f"/api/v1/boards/daily/{p}" for p in ("seasons", "top10?season=1")]
        reads = [asyncio.ensure_future(client.get(paths[i % 2])) for i in range(50)]
        acked: dict[str, int] = {}
        for round_ in range(4):
            for uid, token in players:
                await post_score(client, token, 1 + round_, "kill")
                acked[uid] = acked.get(uid, 0) + 1 + round_
        # Worker 1 gets its connection while every history read waits or has given up
        assert await client.app[appkeys.PERSISTER].flush() == 20
        assert await pg_totals(pool) == acked
        statuses = [r.status for r in await asyncio.gather(*reads)]
    assert set(statuses) <= {200, 503} and 503 in statuses
    # with the lock gone, history answers again
    assert (await client.get(paths[1])).status == 200


async def test_posting_to_an_unknown_board_is_404_whatever_the_body(app_client: Any,
                                                                   make_player: Any) -> None:
    _, token = await make_player()
    for board, body in (("nope", {"action_type": "kill", "score_increment": 10**6}),
                        ("nope", {"action_type": "unknown", "score_increment": 1}),
                        ("Not-An-Id", {"action_type": "kill", "score_increment": 1})):
        got = await call(app_client, "POST", f"/api/v1/boards/{board}/scores", 404,
                         headers=bearer(token), json=body)
        assert got["error"]["code"] == "NOT_FOUND"


async def test_no_season_is_archived_before_the_replay_after_a_promotion(
        app_client: Any, admin_token: str, make_player: Any, redis: Redis, pool: Any) -> None:
    """PG_SERVER names the server Worker 1 last persisted the stream to; while another
    server is primary (a promoted standby not yet replayed to), seasons wait."""
    from scoreboard.persist.pool import IDENTITY

    await create(app_client, admin_token, id="daily", reset="0 0 * * *")
    _, token = await make_player()
    await call(app_client, "POST", "/api/v1/boards/daily/scores", headers=bearer(token),
               json={"action_type": "kill", "score_increment": 4})
    await call(app_client, "POST", "/api/v1/admin/boards/daily/reset", headers=bearer(admin_token))
    await app_client.app[appkeys.PERSISTER].flush()
    seasons = app_client.app[appkeys.SEASONS]
    await redis.set(keys.PG_SERVER, "10.9.9.9:5432")  # the old primary
    assert await seasons.archive_pending() == 0
    past = (await call(app_client, "GET", "/api/v1/boards/daily/top10?season=1"))["data"]
    assert [e["score"] for e in past["leaderboard"]] == [4]  # read from Redis meanwhile
    await redis.set(keys.PG_SERVER, str(await pool.fetchval(IDENTITY)))  # replayed
    assert await seasons.archive_pending() == 1


async def test_a_direct_commit_never_writes_to_a_retired_board(
        app_client: Any, admin_token: str, make_player: Any, pool: Any) -> None:
    """Direct mode: a commit that still holds the board's definition after its retire
    writes nothing (the caller reloads and tries again without it)."""
    from scoreboard.persist.sql import BoardsMoved, Event, Fed, commit_direct

    await create(app_client, admin_token, id="gone")
    uid, _ = await make_player()
    await call(app_client, "DELETE", "/api/v1/admin/boards/gone", headers=bearer(admin_token))
    events = await pool.fetchval("SELECT count(*) FROM score_events")
    with pytest.raises(BoardsMoved):
        await commit_direct(pool, Event(uid, "kill", 5, 1, 0),
                            [Fed("global", 1, "incr", "desc"), Fed("gone", 1, "incr", "desc")])
    assert await pool.fetchval("SELECT count(*) FROM score_events") == events
    assert await pool.fetchval("SELECT count(*) FROM board_scores WHERE board_id = 'gone'") == 0


async def test_direct_mode_updates_skip_a_board_retired_meanwhile(
        make_client: Any, admin_token: str, make_player: Any) -> None:
    one = await make_client(actions=ACTIONS, persist_mode="direct")
    two = await make_client(actions=ACTIONS, persist_mode="direct")
    await create(one, admin_token, id="gone")
    _, token = await make_player()
    first = (await post_score(two, token, 3, "kill"))["data"]
    assert set(first["boards"]) == {"global", "gone"}
    await call(one, "DELETE", "/api/v1/admin/boards/gone", headers=bearer(admin_token))
    then = (await post_score(two, token, 4, "kill"))["data"]
    assert set(then["boards"]) == {"global"} and then["new_score"] == 7
