"""The Python client (clients/python) against a real running service: every endpoint
family, retries with the same Idempotency-Key across a cut connection, 429 honoured,
typed errors, and ``watch`` across a service restart."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from scoreboard_client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    Retry,
    Unauthorized,
    ValidationError,
)
from scoreboard_client.aio import AsyncClient as AsyncApi

from scoreboard.settings import Config
from tests.clients.conftest import Proxy, address, replaced, service
from tests.support import eventually, wait_ready

FAST = Retry(tries=6, base_s=0.05, cap_s=0.5)
EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"


async def test_every_endpoint_family(base: str, admin_token: str, make_player: Any) -> None:
    admin = AsyncClient(base, admin_token, retry=FAST)
    uid, token = await make_player("ace")
    player = AsyncClient(base, token, retry=FAST)
    try:
        made = await admin.create_board({"id": "weekly", "title": "Weekly", "actions": ["kill"],
                                         "reset": "0 0 * * 1"})
        assert made["id"] == "weekly"
        await admin.create_board({"id": "ladder", "title": "Ladder", "actions": ["kill"],
                                  "reset": "0 0 * * 1", "league": {
                                      "tiers": ["bronze", "silver"], "bucket_size": 3,
                                      "promote": 1, "relegate": 1}})
        changed = await admin.change_board("weekly", {"title": "Weekly kills"})
        assert changed["title"] == "Weekly kills"
        # scores
        first = await player.update("kill", 20, metadata={"map": "dust"})
        assert (first["new_score"], sorted(first["boards"])) == (20, ["global", "ladder",
                                                                      "weekly"])
        only = await player.board_score("weekly", "kill", 5)
        assert (only["board"], only["new_score"]) == ("weekly", 25)
        # reads
        assert [e["user_id"] for e in (await player.top10())["leaderboard"]] == [uid]
        assert (await player.top10("weekly"))["board"] == "weekly"
        assert (await player.leaderboard("weekly", limit=5))["total"] == 1
        mine = await player.me("ladder")
        assert (mine["tier"], mine["bucket"], mine["bucket_rank"]) == ("bronze", 1, 1)
        assert (await player.rank(uid))["score"] == 20
        assert (await player.ranks("weekly", [uid]))["leaderboard"][0]["score"] == 25
        assert {b["id"] for b in await player.boards()} == {"global", "weekly", "ladder"}
        assert (await player.board("weekly"))["status"] == "open"
        assert (await player.bucket("ladder", 1))["tier"] == "bronze"
        assert (await player.join("weekly"))["joined"] is True
        await admin.reset_board("weekly")
        seasons = await player.seasons("weekly")
        assert [s["season"] for s in seasons["seasons"]] == [2, 1]
        assert (await player.top10("weekly", season=1))["leaderboard"][0]["score"] == 25
        # admin
        user = await admin.create_user("blaze", "blaze@example.com")
        key = await admin.create_key("match", actions=["kill"])
        assert key["key"].startswith("sbk_")
        assert [k["id"] for k in await admin.keys()] == [key["id"]]
        server = AsyncClient(base, key["key"], retry=FAST)
        try:
            # a batch of 150 goes as requests of at most 100; each item keyed, all applied
            results = await server.batch([{"user_id": user["id"], "action_type": "kill",
                                           "score_increment": 1}] * 150)
            assert len(results) == 150 and all(r["ok"] for r in results)
            assert results[-1]["data"]["new_score"] == 150
        finally:
            await server.aclose()
        await admin.ban(user["id"])
        assert user["id"] not in [e["user_id"] for e in (await player.top10())["leaderboard"]]
        await admin.unban(user["id"])
        assert (await admin.revoke_key(key["id"]))["revoked_at"] is not None
        assert "flags" in await admin.flags(status="open")
        await admin.delete_board("weekly")
        with pytest.raises(NotFound):
            await player.board("weekly")
    finally:
        await admin.aclose()
        await player.aclose()


async def test_errors_are_typed_and_not_retried(base: str, make_player: Any,
                                                admin_token: str) -> None:
    _, token = await make_player()
    sent: list[str] = []
    session = traced(lambda method, url, headers, status: sent.append(url)
                     if status is None else None)
    player = AsyncClient(base, token, retry=FAST, session=session)
    try:
        with pytest.raises(ValidationError) as bad:
            await player.update("nope", 1)
        assert bad.value.code == "VALIDATION_ERROR" and "action_type" in bad.value.fields
        assert bad.value.status == 400 and len(sent) == 1  # a 400 is final: sent once
        with pytest.raises(NotFound):
            await player.board("no-such-board")
    finally:
        await session.close()
    async with AsyncClient(base, admin_token, retry=FAST) as admin:
        board = {"id": "dup", "title": "Dup", "actions": ["kill"]}
        await admin.create_board(board)
        with pytest.raises(Conflict) as again:
            await admin.create_board(board)
        assert again.value.status == 409 and again.value.message
    with Client(base, "not-a-token", retry=FAST) as stranger, pytest.raises(Unauthorized):
        await asyncio.to_thread(stranger.me)


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_an_update_whose_answer_was_cut_counts_once(base: str, proxy: Proxy,
                                                          make_player: Any, kind: str) -> None:
    """The service applies the update; the proxy drops its answer and closes the
    connection; the client sends it again with the same Idempotency-Key and gets the
    recorded answer: counted once."""
    uid, token = await make_player()
    keys: list[str | None] = []

    def remember(request: httpx.Request) -> None:
        keys.append(request.headers.get("Idempotency-Key"))

    proxy.cut_next_answer()
    if kind == "async":
        session = traced(lambda method, url, headers, status: keys.append(
            headers.get("Idempotency-Key")) if status is None else None)
        try:
            got = await AsyncClient(proxy.url, token, retry=FAST, session=session).update(
                "kill", 7)
        finally:
            await session.close()
    else:
        def sync_update() -> Any:
            with Client(proxy.url, token, retry=FAST, http=httpx.Client(
                    base_url=proxy.url, event_hooks={"request": [remember]})) as player:
                return player.update("kill", 7)

        got = await asyncio.to_thread(sync_update)
    assert proxy.cuts == 1 and len(keys) == 2 and keys[0] == keys[1] and keys[0]
    assert got["new_score"] == 7
    async with AsyncClient(proxy.url, token) as reader:
        assert (await reader.rank(uid))["score"] == 7  # once, not 14


async def test_a_429_waits_for_retry_after_with_the_same_key(base: str,
                                                             make_player: Any) -> None:
    _, token = await make_player()
    answers: list[tuple[int, str | None]] = []
    session = traced(lambda method, url, headers, status: answers.append(
        (status, headers.get("Idempotency-Key"))) if status is not None else None)
    player = AsyncClient(base, token, retry=Retry(tries=3, base_s=0.05), session=session)
    try:
        for _ in range(60):  # the burst the rate allows
            await player.update("slow", 1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        last = await player.update("slow", 1)
        waited = loop.time() - started
    finally:
        await session.close()
    assert last["new_score"] == 61
    refused = [a for a in answers if a[0] == 429]
    assert len(refused) == 1 and answers[-1] == (200, refused[0][1])  # retried, same key
    assert waited >= 0.5  # it waited for Retry-After (about a second), not at once


async def test_watch_ends_on_the_truth_across_a_restart(config: Config, tmp_path: Path,
                                                        make_player: Any, pool: Any) -> None:
    """A watcher through a proxy; the service is killed (-9) and another started; the
    proxy moves to it. ``watch`` reconnects, starts again from the snapshot, never
    yields an older top 10, and ends on what the service holds."""
    players = [await make_player(f"w{i}") for i in range(3)]
    with service(config, tmp_path / "a") as (proc_a, base_a):
        await wait_ready(base_a)
        proxy = Proxy(address(base_a))
        await proxy.start()
        seen: list[dict[str, Any]] = []
        stop = asyncio.Event()
        watcher = AsyncClient(proxy.url, players[0][1], retry=FAST)

        async def watch() -> None:
            async for msg in watcher.watch("global", stop=stop):
                seen.append(dict(msg))

        task = asyncio.ensure_future(watch())
        try:
            async with AsyncClient(base_a, players[1][1]) as p1:
                await eventually(lambda: _true(bool(seen)), what="the first snapshot")
                await p1.update("kill", 10)
                await eventually(lambda: _true(any(_top(m) == {players[1][0]: 10}
                                                   for m in seen)), what="the push")
            async with replaced(proc_a, proxy, config, tmp_path / "b") as base_b:
                async with AsyncClient(base_b, players[2][1]) as p2:
                    await p2.update("kill", 30)
                    truth = (await p2.leaderboard())["leaderboard"]  # live, not the cache
                expected = {e["user_id"]: e["score"] for e in truth}
                assert expected == {players[1][0]: 10, players[2][0]: 30}
                await eventually(lambda: _true(bool(seen) and _top(seen[-1]) == expected),
                                 what="the watcher on the truth")
        finally:
            stop.set()
            await task
            await watcher.aclose()
            await proxy.close()
    seqs = [m["seq"] for m in seen if m["type"] == "leaderboard_update"]
    assert seqs == sorted(seqs)  # never an older top 10 after a newer one


def traced(seen: Any) -> aiohttp.ClientSession:
    """A session telling ``seen(method, url, request headers, status)`` of each request
    as it starts (status None) and as its answer comes (its status)."""
    trace = aiohttp.TraceConfig()

    async def start(_s: Any, _c: Any, p: aiohttp.TraceRequestStartParams) -> None:
        seen(p.method, str(p.url), p.headers, None)

    async def end(_s: Any, _c: Any, p: aiohttp.TraceRequestEndParams) -> None:
        seen(p.method, str(p.url), p.headers, p.response.status)

    trace.on_request_start.append(start)
    trace.on_request_end.append(end)
    return aiohttp.ClientSession(trace_configs=[trace])


def test_sync_and_async_clients_have_the_same_methods() -> None:
    """aio.AsyncClient is client.Client awaited: the same methods, the same parameters."""
    def api(cls: type) -> dict[str, list[str]]:
        return {name: list(inspect.signature(f).parameters)
                for name, f in inspect.getmembers(cls, inspect.isfunction)
                if not name.startswith("_") and name not in ("close", "aclose", "watch")}

    assert "update" in api(Client)

    assert api(Client) == api(AsyncApi)


async def _true(value: bool) -> bool:
    return value


def _top(msg: dict[str, Any]) -> dict[str, int]:
    return {e["user_id"]: e["score"] for e in msg["data"]["leaderboard"]}


async def test_the_examples_run(base: str, admin_token: str, make_player: Any) -> None:
    """examples/match_server.py reports a match in one batch; examples/watcher.py prints
    the top 10 as it changes."""
    import sys

    root = EXAMPLES
    players = [await make_player(f"m{i}") for i in range(2)]
    async with AsyncClient(base, admin_token) as admin:
        key = (await admin.create_key("example"))["key"]
    watcher = await asyncio.create_subprocess_exec(
        sys.executable, str(root / "watcher.py"), base, players[0][1],
        stdout=asyncio.subprocess.PIPE)
    try:
        assert watcher.stdout is not None
        assert (await asyncio.wait_for(watcher.stdout.readline(), 30)).startswith(b"-- global")
        match = await asyncio.create_subprocess_exec(
            sys.executable, str(root / "match_server.py"), base, key,
            *(uid for uid, _ in players), stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(match.communicate(), 60)
        assert match.returncode == 0
        lines = out.decode().splitlines()
        assert [line.split(":")[0] for line in lines] == [uid for uid, _ in players]
        shown = b""
        while b"m1" not in shown or b"m0" not in shown:  # the pushes reach the watcher
            shown += await asyncio.wait_for(watcher.stdout.readline(), 30)
    finally:
        watcher.kill()
        await watcher.wait()
