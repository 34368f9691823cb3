"""Tournaments (DESIGN "Competitions: tournaments and leagues"): a window, joining, a
size limit and attempts, each decided in the update's one Lua call; the end archived
once. Against a real Redis and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scoreboard import appkeys
from scoreboard.actions import Action
from tests.support import bearer, call, eventually, killed_mid_cut, post_score, racing_checks

ACTIONS = {"kill": Action("kill", 50, 10**6), "lap": Action("lap", 100_000, 10**6)}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARDS = "/api/v1/admin/boards"


@pytest.fixture(params=["batch", "direct"])
async def app_client(make_client: Any, request: pytest.FixtureRequest) -> Any:
    """Each test in both persistence modes: the competitions' rules are the same Lua
    (update.lua in batch mode, admit.lua in direct mode)."""
    client = await make_client(actions=ACTIONS, persist_mode=request.param)
    client.app[appkeys.SEASONS].grace_s = 0  # direct mode: archive at once
    return client


def at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat(timespec="milliseconds")


async def tournament(client: Any, admin: str, status: int = 201, **fields: Any) -> Any:
    return await call(client, "POST", BOARDS, status, headers=bearer(admin),
                      json={"id": "cup", "title": "Cup", "actions": ["kill"], **fields})


async def target(client: Any, token: str, status: int = 200, value: int = 5,
                 board: str = "cup", **extra: Any) -> Any:
    return await call(client, "POST", f"/api/v1/boards/{board}/scores", status,
                      headers=bearer(token),
                      json={"action_type": "kill", "score_increment": value, **extra})


async def join(client: Any, token: str, status: int = 200, board: str = "cup",
               **body: Any) -> Any:
    return await call(client, "POST", f"/api/v1/boards/{board}/join", status,
                      headers=bearer(token), json=body or None)


async def status_of(client: Any, board: str = "cup") -> str:
    return str((await call(client, "GET", f"/api/v1/boards/{board}"))["data"]["status"])


async def test_a_tournament_is_fed_only_inside_its_window(app_client: Any, admin_token: str,
                                                          make_player: Any) -> None:
    made = (await tournament(app_client, admin_token, starts_at=at(hours=1),
                             ends_at=at(hours=2)))["data"]
    assert made["starts_at"] is not None and made["ends_at"] is not None
    _, token = await make_player()
    assert await status_of(app_client) == "upcoming"
    body = await post_score(app_client, token, 5, "kill")  # global takes it, cup does not
    assert list(body["data"]["boards"]) == ["global"]
    refused = await target(app_client, token, 409)
    assert refused["error"]["code"] == "CONFLICT"
    # open now, for about two seconds: the window is Redis's clock's
    closes = at(seconds=2)
    await call(app_client, "PATCH", f"{BOARDS}/cup", headers=bearer(admin_token),
               json={"starts_at": at(seconds=-1), "ends_at": closes})
    assert await status_of(app_client) == "open"
    body = await post_score(app_client, token, 5, "kill")
    assert body["data"]["boards"]["cup"]["score"] == 5
    assert (await target(app_client, token, value=3))["data"]["new_score"] == 8

    async def ended() -> bool:
        return await status_of(app_client) == "ended"

    await eventually(ended, what="the window closing")
    body = await post_score(app_client, token, 5, "kill")  # after the window: left out
    assert list(body["data"]["boards"]) == ["global"]
    await target(app_client, token, 409)
    # its season ends at the window's end, once, and is archived as a reset's
    seasons = app_client.app[appkeys.SEASONS]
    assert await seasons.check() == ["cup"]
    assert await seasons.check() == []
    await app_client.app[appkeys.PERSISTER].flush()
    await seasons.check()
    past = (await call(app_client, "GET", "/api/v1/boards/cup/leaderboard?season=1"))["data"]
    assert [(e["score"]) for e in past["leaderboard"]] == [8]
    detail = (await call(app_client, "GET", "/api/v1/boards/cup"))["data"]
    assert (detail["status"], detail["season"], detail["next_reset_at"]) == ("ended", 2, None)
    listed = (await call(app_client, "GET", "/api/v1/boards/cup/seasons"))["data"]["seasons"]
    assert datetime.fromisoformat(listed[1]["ended_at"]) == datetime.fromisoformat(closes)
    await join(app_client, token, 409)  # ended for good


async def test_a_recurring_tournament_reopens_each_season(app_client: Any, admin_token: str,
                                                          make_player: Any) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    ends = start + timedelta(minutes=10)  # each window lasts ten minutes
    await tournament(app_client, admin_token, starts_at=start.isoformat(),
                     ends_at=ends.isoformat(), reset="0 * * * *")
    assert await status_of(app_client) == "open"  # its first window
    _, token = await make_player()
    await target(app_client, token)
    seasons = app_client.app[appkeys.SEASONS]
    assert await seasons.check(ends + timedelta(minutes=5)) == ["cup"]
    detail = (await call(app_client, "GET", "/api/v1/boards/cup"))["data"]
    # the next window opens at the schedule's first instant after the last one closed
    assert (detail["status"], detail["season"], detail["players"]) == ("upcoming", 2, 0)
    opens = datetime.fromisoformat(detail["next_reset_at"]) - timedelta(minutes=10)
    assert (opens.minute, opens.second) == (0, 0)  # an hour's start (the schedule)
    assert timedelta(0) < opens - ends <= timedelta(hours=1)  # the first after the end
    await target(app_client, token, 409)  # not open yet
    await join(app_client, token)  # but a seat can be taken before it opens


async def test_windows_missed_while_down_end_one_season(app_client: Any, admin_token: str,
                                                        make_player: Any) -> None:
    """A service down across several windows of a recurring tournament ends the live
    season once, at the last window that closed, with no empty season per window."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    ends = start + timedelta(minutes=10)
    await tournament(app_client, admin_token, starts_at=start.isoformat(),
                     ends_at=ends.isoformat(), reset="0 * * * *")
    _, token = await make_player()
    await target(app_client, token)
    later = ends + timedelta(hours=5, minutes=30)  # five hourly windows missed
    seasons = app_client.app[appkeys.SEASONS]
    assert await seasons.check(later) == ["cup"]
    assert await seasons.check(later) == []  # once
    pg = app_client.app[appkeys.PG]
    row = await pg.fetchrow("SELECT season, season_started_at FROM boards WHERE id = 'cup'")
    assert row["season"] == 2
    # season 2 began at the last window that closed before `later` (an hour's 10th
    # minute), so its own window is the next one after `later`
    began = row["season_started_at"]
    assert (began.minute, began.second) == (10, 0) and later - began < timedelta(hours=1)
    assert await pg.fetchval("SELECT count(*) FROM board_seasons WHERE board_id = 'cup'") == 1


async def test_join_full_and_twice(app_client: Any, admin_token: str, make_player: Any) -> None:
    await tournament(app_client, admin_token, join_required=True, max_size=3)
    players = [await make_player() for _ in range(8)]
    _, first = players[0]
    refused = await target(app_client, first, 403)  # not joined
    assert refused["error"]["code"] == "FORBIDDEN"
    body = await post_score(app_client, first, 5, "kill")
    assert list(body["data"]["boards"]) == ["global"]
    # eight race for three seats: exactly three get one
    answers = await asyncio.gather(*(app_client.post("/api/v1/boards/cup/join",
                                                     headers=bearer(t)) for _, t in players))
    assert sorted(r.status for r in answers) == [200] * 3 + [409] * 5
    seated = [players[i] for i, r in enumerate(answers) if r.status == 200]
    again = await join(app_client, seated[0][1])  # twice: a no-op
    assert again["data"] == {"board": "cup", "season": 1, "joined": True, "players": 3}
    assert (await target(app_client, seated[0][1]))["data"]["new_score"] == 5
    outside = next(t for u, t in players if (u, t) not in seated)
    await target(app_client, outside, 403)
    full = await join(app_client, outside, 409)
    assert "full" in full["error"]["message"]
    ranked = (await call(app_client, "GET", "/api/v1/boards/cup/leaderboard"))["data"]
    assert ranked["total"] == 1


async def test_the_first_max_size_players_to_score_are_in(app_client: Any, admin_token: str,
                                                          make_player: Any) -> None:
    await tournament(app_client, admin_token, max_size=2)
    players = [await make_player() for _ in range(10)]
    answers = await asyncio.gather(*(app_client.post(
        "/api/v1/boards/cup/scores", headers=bearer(t),
        json={"action_type": "kill", "score_increment": 1}) for _, t in players))
    assert sorted(r.status for r in answers) == [200] * 2 + [409] * 8
    ranked = (await call(app_client, "GET", "/api/v1/boards/cup/leaderboard"))["data"]
    assert ranked["total"] == 2
    # the two in score again; the others' updates leave the cup out
    winner = players[[r.status for r in answers].index(200)][1]
    assert (await post_score(app_client, winner, 2, "kill"))["data"]["boards"]["cup"]
    loser = players[[r.status for r in answers].index(409)][1]
    assert "cup" not in (await post_score(app_client, loser, 2, "kill"))["data"]["boards"]


async def test_attempts_count_per_season(app_client: Any, admin_token: str,
                                         make_player: Any) -> None:
    await tournament(app_client, admin_token, max_attempts=2, reset="0 0 * * *",
                     operator="best")
    _, token = await make_player()
    first = await post_score(app_client, token, 30, "kill")
    assert first["data"]["boards"]["cup"]["attempts_left"] == 1
    assert "attempts_left" not in first["data"]["boards"]["global"]
    assert (await target(app_client, token, value=10))["data"]["attempts_left"] == 0  # not
    # better on a best board, and still an attempt
    spent = await target(app_client, token, 409, value=40)
    assert "attempts" in spent["error"]["message"]
    body = await post_score(app_client, token, 40, "kill")
    assert list(body["data"]["boards"]) == ["global"]
    score = (await call(app_client, "GET", "/api/v1/boards/cup/leaderboard"))["data"]
    assert score["leaderboard"][0]["score"] == 30
    # the next season gives them back
    await call(app_client, "POST", f"{BOARDS}/cup/reset", headers=bearer(admin_token))
    assert (await target(app_client, token, value=7))["data"]["attempts_left"] == 1


async def test_a_server_key_joins_and_writes_for_a_player(app_client: Any, admin_token: str,
                                                          make_player: Any) -> None:
    await tournament(app_client, admin_token, join_required=True, authoritative=True)
    uid, token = await make_player()
    key = (await call(app_client, "POST", "/api/v1/admin/keys", 201, headers=bearer(admin_token),
                      json={"name": "match", "actions": None}))["data"]["key"]
    await join(app_client, key, user_id=uid)
    await target(app_client, token, 403)  # authoritative: server keys only
    body = await target(app_client, key, user_id=uid, value=9)
    assert (body["data"]["board"], body["data"]["new_score"]) == ("cup", 9)
    named = await call(app_client, "POST", "/api/v1/boards/cup/join", 400,
                       headers=bearer(key), json={})  # a key names the player
    assert "user_id" in named["error"]["fields"]


async def test_bad_definitions_are_refused_and_change_nothing(app_client: Any,
                                                              admin_token: str) -> None:
    cases = [
        ({"starts_at": at(hours=2), "ends_at": at(hours=1)}, "ends_at"),
        ({"ends_at": at(hours=-1)}, "ends_at"),
        ({"ends_at": "tomorrow"}, "ends_at"),
        ({"starts_at": "2030-01-01T00:00:00"}, "starts_at"),  # no offset
        ({"ends_at": at(hours=1), "reset": "0 0 * * *"}, "starts_at"),
        ({"max_size": 0}, "max_size"),
        ({"max_attempts": True}, "max_attempts"),
        ({"join_required": "yes"}, "join_required"),
    ]
    for fields, named in cases:
        got = await tournament(app_client, admin_token, 400, **fields)
        assert named in got["error"]["fields"], (fields, got)
    await call(app_client, "GET", "/api/v1/boards/cup", 404)
    await call(app_client, "PATCH", f"{BOARDS}/global", 409, headers=bearer(admin_token),
               json={"max_attempts": 3})


async def test_what_may_change_once_there_are_scores(app_client: Any, admin_token: str,
                                                     make_player: Any) -> None:
    await tournament(app_client, admin_token, ends_at=at(hours=1), max_attempts=5)
    _, token = await make_player()
    await target(app_client, token)
    await call(app_client, "PATCH", f"{BOARDS}/cup", 409, headers=bearer(admin_token),
               json={"max_attempts": 9})
    await call(app_client, "PATCH", f"{BOARDS}/cup", 409, headers=bearer(admin_token),
               json={"ends_at": at(minutes=30)})  # earlier: no
    later = at(hours=3)
    moved = await call(app_client, "PATCH", f"{BOARDS}/cup", headers=bearer(admin_token),
                       json={"ends_at": later})
    assert datetime.fromisoformat(moved["data"]["ends_at"]) == datetime.fromisoformat(later)


async def test_joining_a_retired_or_unknown_board(app_client: Any, admin_token: str,
                                                  make_player: Any) -> None:
    await tournament(app_client, admin_token, join_required=True)
    _, token = await make_player()
    await call(app_client, "DELETE", f"{BOARDS}/cup", headers=bearer(admin_token))
    assert (await join(app_client, token, 409))["error"]["code"] == "CONFLICT"
    await join(app_client, token, 404, board="nope")
    await call(app_client, "POST", "/api/v1/boards/cup/join", 400,
               headers={**bearer(token), "Content-Type": "application/json"}, data=b"{nope")
    unknown = await call(app_client, "POST", "/api/v1/boards/cup/join", 400,
                         headers=bearer(token), json={"user_id": "x"})  # a player's own only
    assert "user_id" in unknown["error"]["fields"]


async def test_racing_processes_end_a_tournament_once(app_client: Any, admin_token: str,
                                                      database_url: str, redis_url: str,
                                                      make_player: Any) -> None:
    await tournament(app_client, admin_token, ends_at=at(hours=1))
    _, token = await make_player()
    await target(app_client, token)
    later = datetime.now(UTC) + timedelta(hours=2)
    done = await racing_checks(database_url, redis_url, 3, later)
    assert sorted(b for ended in done for b in ended) == ["cup"]
    pg = app_client.app[appkeys.PG]
    row = await pg.fetchrow("SELECT season, season_started_at, ends_at FROM boards"
                            " WHERE id = 'cup'")
    assert row["season"] == 2 and row["season_started_at"] == row["ends_at"]  # ended then
    assert await pg.fetchval("SELECT count(*) FROM board_seasons") == 1


KILLED_MID_END = killed_mid_cut('check(datetime.now(UTC))')


async def test_a_process_killed_mid_end_is_completed_once(app_client: Any, admin_token: str,
                                                          make_player: Any, database_url: str,
                                                          redis_url: str) -> None:
    await tournament(app_client, admin_token, ends_at=at(seconds=1))
    _, token = await make_player()
    await target(app_client, token, value=4)

    async def ended() -> bool:
        return await status_of(app_client) == "ended"

    await eventually(ended, what="the window closing")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", KILLED_MID_END, database_url, redis_url, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT}, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    pg = app_client.app[appkeys.PG]
    assert await pg.fetchval("SELECT season FROM boards WHERE id = 'cup'") == 1  # rolled back
    seasons = app_client.app[appkeys.SEASONS]
    assert await seasons.check() == ["cup"]  # Redis is ahead: completed
    assert await seasons.check() == []  # once
    await app_client.app[appkeys.PERSISTER].flush()
    await seasons.check()
    assert await pg.fetchval("SELECT count(*) FROM board_seasons WHERE archived_at IS NOT NULL"
                             " AND players = 1") == 1
    assert await status_of(app_client) == "ended"
