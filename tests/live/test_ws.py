"""/ws/leaderboard with a real Redis and real aiohttp clients."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import WSMsgType
from redis.asyncio import Redis

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.auth.tokens import mint
from scoreboard.live import fanout
from scoreboard.players import users
from scoreboard.players.moderation import Moderation
from scoreboard.testing.servers import RedisServer
from tests.support import bearer, eventually, post_score

WS = "/ws/leaderboard"


@pytest.fixture(params=["loop", "threads"])
def send_threads(request: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    """WS_SEND_THREADS for a test run twice: the loop's thread writing every socket,
    and two more threads sharing the writes even for a few sockets."""
    if request.param == "loop":
        return 0
    monkeypatch.setattr(fanout, "PARALLEL_MIN", 1)
    return 2


async def next_update(ws: Any, within: float = 5.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=within)
    assert msg.type == WSMsgType.TEXT, msg
    body = orjson.loads(msg.data)
    assert body["type"] == "leaderboard_update"
    # the seed's message, plus seq, and (DESIGN "Boards and seasons") board and season
    assert set(body) == {"type", "data", "seq", "board", "season", "timestamp"}
    return dict(body)


async def handshake_status(client: Any, path: str, **kw: Any) -> tuple[int, Any]:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect(path, **kw)
    return info.value.status, info.value


async def test_refusals_before_upgrade(make_client: Any, make_player: Any) -> None:
    client = await make_client(ws_allowed_origins=("https://game.example.com",))
    _, token = await make_player()
    status, _ = await handshake_status(client, WS)
    assert status == 401
    status, _ = await handshake_status(client, WS + "?token=not-a-jwt")
    assert status == 401
    status, _ = await handshake_status(client, f"{WS}?token={token}",
                                       headers={"Origin": "https://evil.example.com"})
    assert status == 403
    ws = await client.ws_connect(f"{WS}?token={token}",
                                 headers={"Origin": "https://game.example.com"})
    assert (await next_update(ws))["data"]["leaderboard"] == []
    await ws.close()
    # the refusal is the JSON envelope, not a bare status
    resp = await client.get(WS)
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "UNAUTHORIZED"


async def test_token_by_header_and_subprotocol(client: Any, make_player: Any) -> None:
    _, token = await make_player()
    ws = await client.ws_connect(WS, headers=bearer(token))
    await next_update(ws)
    await ws.close()
    ws = await client.ws_connect(WS, protocols=(f"bearer.{token}",))
    assert ws.protocol == f"bearer.{token}"  # echoed, as browsers require
    await next_update(ws)
    await ws.close()


async def test_snapshot_then_changes_matching_top10(client: Any, make_player: Any) -> None:
    players = [await make_player(f"ws{i}") for i in range(3)]
    for i, (_, token) in enumerate(players):
        await post_score(client, token, 10 * (i + 1))
    await eventually(client.app[appkeys.HUB].settled, what="the hub settling")
    ws = await client.ws_connect(f"{WS}?token={players[0][1]}")
    snap = await next_update(ws)
    top10 = (await (await client.get("/api/v1/leaderboard/top10")).json())["data"]
    assert snap["data"]["leaderboard"] == top10["leaderboard"]
    assert [e["user_id"] for e in snap["data"]["leaderboard"]] == [p[0] for p in players[::-1]]
    assert snap["data"]["changes"] == []

    await post_score(client, players[0][1], 100)  # last place climbs to first
    update = await next_update(ws)
    assert update["seq"] > snap["seq"]
    assert update["data"]["leaderboard"][0]["user_id"] == players[0][0]
    assert update["data"]["changes"] == [{"user_id": players[0][0], "previous_rank": 3,
                                          "rank": 1, "score": 110}]
    top10 = (await (await client.get("/api/v1/leaderboard/top10")).json())["data"]
    assert update["data"]["leaderboard"] == top10["leaderboard"]
    await ws.close()


async def test_burst_is_coalesced(make_client: Any, make_player: Any) -> None:
    client = await make_client(ws_coalesce_ms=300,
                               actions={"tap": Action("tap", 10, 10**6)})
    uid, token = await make_player()
    ws = await client.ws_connect(f"{WS}?token={token}")
    await next_update(ws)
    await asyncio.gather(*(post_score(client, token, 1, "tap") for _ in range(40)))
    seen = []
    while True:
        update = await next_update(ws)
        seen.append(update)
        if update["data"]["leaderboard"][0]["score"] == 40:
            break
    assert len(seen) < 10  # forty changes, a handful of messages
    assert [u["seq"] for u in seen] == sorted({u["seq"] for u in seen})
    assert seen[-1]["data"]["changes"][0]["user_id"] == uid
    await ws.close()


async def test_stalled_reader_is_dropped_healthy_keeps_pace(make_client: Any, make_player: Any,
                                                            send_threads: int) -> None:
    client = await make_client(ws_send_buffer_kb=64, ws_send_threads=send_threads)
    hub = client.app[appkeys.HUB]
    # big rows make each message about 20 KB, so a silent reader's buffers fill fast
    long_avatar = "https://cdn.example.com/" + "a" * 1900
    for i in range(10):
        _, token = await make_player(f"big{i:02d}", avatar_url=long_avatar)
        await post_score(client, token, i + 1)
    _, viewer = await make_player("viewer")
    healthy = await client.ws_connect(f"{WS}?token={viewer}")
    await next_update(healthy)

    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", client.port))
    key = base64.b64encode(os.urandom(16)).decode()
    stalled.sendall((f"GET {WS}?token={viewer} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    await eventually(lambda: _true(len(hub.clients) == 2), what="both sockets registered")
    # keep the kernel's own buffering small on the server side of the silent socket, so
    # the test does not depend on how much a machine's TCP stack holds
    port = stalled.getsockname()[1]
    for c in hub.clients:
        assert c.transport is not None
        if c.transport.get_extra_info("peername")[1] == port:
            c.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                                            4096)

    for _ in range(400):
        await hub.broadcast([])
        msg = await healthy.receive(timeout=5)  # the healthy client gets every message
        assert msg.type == WSMsgType.TEXT
        if len(hub.clients) == 1:
            break
    assert len(hub.clients) == 1, "the stalled reader was never dropped"
    assert hub.dropped == 1
    for _ in range(5):  # and keeps its pace afterwards
        await hub.broadcast([])
        assert (await healthy.receive(timeout=5)).type == WSMsgType.TEXT
    stalled.close()
    await healthy.close()


async def _true(value: bool) -> bool:
    return value


async def test_logout_and_ban_close_sockets(client: Any, make_player: Any, pool: Any,
                                            redis: Redis) -> None:
    admin_id, _ = await make_player(admin=True)
    uid, token = await make_player()
    ws = await client.ws_connect(f"{WS}?token={token}")
    await next_update(ws)
    await client.post("/api/v1/auth/logout", headers=bearer(token))
    msg = await ws.receive(timeout=5)
    assert msg.type == WSMsgType.CLOSE and msg.data == 1008

    token2 = mint(client.app[appkeys.CONFIG], uid)
    ws = await client.ws_connect(f"{WS}?token={token2}")
    await next_update(ws)
    await Moderation(pool, redis).set_banned(admin_id, uid, True)
    msg = await ws.receive(timeout=5)
    assert msg.type == WSMsgType.CLOSE and msg.data == 1008
    status, _ = await handshake_status(client, f"{WS}?token={token2}")
    assert status == 403


async def test_sockets_per_player_are_capped(make_client: Any, make_player: Any) -> None:
    client = await make_client(ws_max_per_user=2)
    _, token = await make_player()
    socks = [await client.ws_connect(f"{WS}?token={token}") for _ in range(2)]
    status, _ = await handshake_status(client, f"{WS}?token={token}")
    assert status == 429
    other = await make_player()  # the cap is per player
    socks.append(await client.ws_connect(f"{WS}?token={other[1]}"))
    await socks.pop(0).close()  # a socket that closes frees its place

    async def admitted() -> bool:
        try:
            socks.append(await client.ws_connect(f"{WS}?token={token}"))
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 429
            return False
        return True

    await eventually(admitted, what="a place freed by a closed socket")
    for ws in socks:
        await ws.close()


async def test_shutdown_closes_with_1001(make_client: Any, make_player: Any) -> None:
    client = await make_client()
    _, token = await make_player()
    ws = await client.ws_connect(f"{WS}?token={token}")
    await next_update(ws)
    closing = asyncio.create_task(client.server.close())
    msg = await ws.receive(timeout=10)
    assert msg.type == WSMsgType.CLOSE and msg.data == 1001
    await closing


async def test_resubscribe_and_snapshot_after_redis_restart(make_client: Any, pool: Any,
                                                            tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r", aof=True)
    server.start()
    own = Redis.from_url(server.url)
    try:
        client = await make_client(redis_url=server.url, request_timeout_s=0.5)
        config = client.app[appkeys.CONFIG]
        user = await users.create(pool, own, "resub", "resub@x.io", None)
        token = mint(config, user["id"])
        await post_score(client, token, 5)
        hub = client.app[appkeys.HUB]
        await eventually(hub.settled, what="the hub pushing the first score")
        ws = await client.ws_connect(f"{WS}?token={token}")
        await next_update(ws)
        await eventually(lambda: _true(hub.subscribed.is_set()), what="subscribed")
        server.stop()
        await eventually(lambda: _true(not hub.subscribed.is_set()), what="the hub noticing")
        server.start()
        fresh = await next_update(ws, within=15)  # a snapshot after resubscribing
        assert fresh["data"]["leaderboard"][0]["user_id"] == user["id"]
        await post_score(client, token, 5)  # and changes flow again
        update = await next_update(ws)
        assert update["data"]["leaderboard"][0]["score"] == 10
        await ws.close()
    finally:
        await own.aclose()
        server.stop()


async def test_snapshot_after_a_restart_the_client_repairs_by_itself(
        make_client: Any, pool: Any, tmp_path: Path) -> None:
    """Redis back within the client library's own retry: the subscription is repaired
    inside redis-py, and watchers must still get a fresh snapshot."""
    server = RedisServer(tmp_path / "r", aof=True)
    server.start()
    own = Redis.from_url(server.url)
    try:
        client = await make_client(redis_url=server.url)
        user = await users.create(pool, own, "quick", "quick@x.io", None)
        token = mint(client.app[appkeys.CONFIG], user["id"])
        await post_score(client, token, 5)
        hub = client.app[appkeys.HUB]
        await eventually(hub.settled, what="the hub pushing the first score")
        ws = await client.ws_connect(f"{WS}?token={token}")
        await next_update(ws)
        await eventually(lambda: _true(hub.subscribed.is_set()), what="subscribed")
        server.stop()
        server.start()  # at once: no wait for anyone to notice
        fresh = await next_update(ws, within=15)
        assert fresh["data"]["leaderboard"][0]["user_id"] == user["id"]
        await ws.close()
    finally:
        await own.aclose()
        server.stop()


async def test_watchers_joining_during_changes_never_go_back(make_client: Any, make_player: Any,
                                                             send_threads: int) -> None:
    """A socket that connects while changes are being pushed gets its snapshot first and
    the changes after: its seq never goes back, and it ends on GET top10."""
    client = await make_client(ws_coalesce_ms=0, ws_send_threads=send_threads)
    players = [await make_player() for _ in range(12)]

    async def scores() -> None:
        for i in range(120):
            await post_score(client, players[i % len(players)][1], 1 + i % 7)

    async def watch(n: int) -> tuple[list[int], Any]:
        ws = await client.ws_connect(f"{WS}?token={players[n % len(players)][1]}")
        seqs, last = [], None
        try:
            while True:
                try:
                    msg = await ws.receive_json(timeout=1.0)
                except TimeoutError:
                    return seqs, last  # quiet for a second: the changes are over
                seqs.append(msg["seq"])
                last = msg["data"]["leaderboard"]
        finally:
            await ws.close()

    async def joiners() -> list[tuple[list[int], Any]]:
        watches = []
        for n in range(30):  # sockets arriving one after another while the scores go on
            watches.append(asyncio.create_task(watch(n)))
            await asyncio.sleep(0.005)
        return list(await asyncio.gather(*watches))

    _, seen = await asyncio.gather(scores(), joiners())
    await eventually(client.app[appkeys.HUB].settled, what="every change pushed")
    top = (await (await client.get("/api/v1/leaderboard/top10")).json())["data"]["leaderboard"]
    for seqs, last in seen:
        assert seqs == sorted(seqs), seqs
        assert last == top


async def test_many_watchers_get_every_change_whole_and_in_order(make_client: Any,
                                                                 make_player: Any) -> None:
    """More sockets than the loop's thread writes alone: the fan-out's threads write to
    them, and each gets every broadcast, each a whole frame, in order."""
    client = await make_client(ws_coalesce_ms=0, ws_send_threads=2, ws_max_per_user=200)
    hub = client.app[appkeys.HUB]
    players = [await make_player() for _ in range(3)]
    sockets = [await client.ws_connect(f"{WS}?token={players[0][1]}")
               for _ in range(fanout.PARALLEL_MIN + 16)]
    for ws in sockets:
        await next_update(ws)
    for i in range(6):
        await post_score(client, players[i % 3][1], 5 + i)
        await eventually(hub.settled, what="the change pushed")
    top = (await (await client.get("/api/v1/leaderboard/top10")).json())["data"]["leaderboard"]
    for ws in sockets:
        seqs, last = [], None
        while last != top:
            update = await next_update(ws)  # a torn frame fails the client's parser here
            seqs.append(update["seq"])
            last = update["data"]["leaderboard"]
        assert seqs == sorted(set(seqs)) and seqs[-1] == 6, seqs
        await ws.close()


async def test_fan_out_between_two_apps(make_client: Any, make_player: Any) -> None:
    a = await make_client()
    b = await make_client()
    uid, token = await make_player()
    ws = await a.ws_connect(f"{WS}?token={token}")
    await next_update(ws)
    await post_score(b, token, 33)  # posted to the other instance
    update = await next_update(ws)
    assert update["data"]["leaderboard"][0] == {
        "rank": 1, "user_id": uid, "username": update["data"]["leaderboard"][0]["username"],
        "score": 33, "avatar_url": None}
    await ws.close()


async def test_no_token_in_logs(config: Any, make_player: Any, tmp_path: Path) -> None:
    """The real server's log, at DEBUG, after a handshake with ?token= and a query."""
    from tests.support import serve, wait_ready

    _, token = await make_player()
    log_file = tmp_path / "serve.log"
    with log_file.open("wb") as sink, serve(config, tmp_path, LOG_LEVEL="DEBUG",
                                            stderr=sink) as (proc, base):
        await wait_ready(base)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{base}{WS}?token={token}") as ws:
                await next_update(ws)
            async with session.get(f"{base}/api/v1/leaderboard?limit=5&t={token}") as r:
                assert r.status == 200
            async with session.ws_connect(f"{base}{WS}", headers=bearer(token)) as ws:
                await next_update(ws)
        proc.terminate()
        proc.wait(30)
    text = log_file.read_text()
    assert f'"path":"{WS}"' in text  # access lines were written
    assert token not in text
    assert token.split(".")[2] not in text  # not even the signature


async def test_fan_out_between_serve_processes(config: Any, make_player: Any,
                                               tmp_path: Path) -> None:
    from tests.support import serve, wait_ready

    uid, token = await make_player()
    with serve(config, tmp_path) as (_, a), serve(config, tmp_path) as (_, b):
        await wait_ready(a)
        await wait_ready(b)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{a}{WS}?token={token}") as ws:
                await next_update(ws)
                async with session.post(f"{b}/api/v1/scores/update", headers=bearer(token),
                                        json={"action_type": "tap", "score_increment": 4}) as r:
                    assert r.status == 200, await r.text()
                update = await next_update(ws)
                assert update["data"]["leaderboard"][0]["user_id"] == uid
                assert update["data"]["leaderboard"][0]["score"] == 4


async def test_workers_share_one_port_and_stop_together(config: Any, make_player: Any,
                                                        tmp_path: Path) -> None:
    import psutil

    from tests.support import serve, wait_ready

    _, token = await make_player()
    with serve(config, tmp_path, args=("--workers", "2")) as (proc, base):
        await wait_ready(base)
        children = psutil.Process(proc.pid).children()
        assert len(children) == 2
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(f"{base}{WS}?token={token}") for _ in range(4)]
            for ws in sockets:
                await next_update(ws)
            async with session.post(f"{base}/api/v1/scores/update", headers=bearer(token),
                                    json={"action_type": "tap", "score_increment": 2}) as r:
                assert r.status == 200
            for ws in sockets:  # whichever process holds it, every socket hears of it
                assert (await next_update(ws))["data"]["leaderboard"][0]["score"] == 2
            for _ in range(9):
                async with session.post(f"{base}/api/v1/scores/update", headers=bearer(token),
                                        json={"action_type": "tap", "score_increment": 1}) as r:
                    assert r.status == 200
            for _ in range(4):  # any process's /metrics counts the updates of both
                async with session.get(f"{base}/metrics") as r:
                    text = await r.text()
                line = next(x for x in text.splitlines() if x.startswith(
                    'scoreboard_score_updates_total{action="tap",outcome="accepted"}'))
                assert float(line.rsplit(" ", 1)[1]) == 10
            proc.terminate()
            for ws in sockets:
                msg = await ws.receive(timeout=15)
                assert msg.type == WSMsgType.CLOSE and msg.data == 1001
            for ws in sockets:
                await ws.close()
        assert proc.wait(30) == 0
        assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


async def test_silent_client_is_closed_by_heartbeat(make_client: Any, make_player: Any) -> None:
    client = await make_client(ws_heartbeat_s=0.3)
    _, token = await make_player()
    hub = client.app[appkeys.HUB]
    # a client that never answers pings (aiohttp's would answer them itself)
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET {WS}?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    assert b" 101 " in await reader.readline()
    await eventually(lambda: _true(len(hub.clients) == 1), what="registered")
    await eventually(lambda: _true(len(hub.clients) == 0), within=10, what="dropped for silence")
    rest = await asyncio.wait_for(reader.read(), 10)  # read to the end: the server hung up
    assert b"\x89\x00" in rest  # after a ping that went unanswered
    writer.close()


async def test_each_board_pushes_to_its_own_watchers_only(make_client: Any,
                                                          make_player: Any) -> None:
    client = await make_client(actions={"kill": Action("kill", 50, 10**6),
                                        "lap": Action("lap", 10**5, 10**6)})
    _, admin = await make_player(admin=True)
    resp = await client.post("/api/v1/admin/boards", headers=bearer(admin), json={
        "id": "laps", "title": "Laps", "actions": ["lap"], "order": "asc",
        "operator": "best"})
    assert resp.status == 201
    uid, token = await make_player()
    laps = await client.ws_connect(f"{WS}?board=laps&token={token}")
    glob = await client.ws_connect(f"{WS}?token={token}")
    first = await next_update(laps)
    assert (first["board"], first["season"], first["data"]["leaderboard"]) == ("laps", 1, [])
    assert (await next_update(glob))["board"] == "global"
    resp = await client.post("/api/v1/boards/laps/scores", headers=bearer(token),
                             json={"action_type": "lap", "score_increment": 70})
    assert resp.status == 200  # laps only
    pushed = await next_update(laps)
    assert pushed["board"] == "laps"
    assert [(e["user_id"], e["score"]) for e in pushed["data"]["leaderboard"]] == [(uid, 70)]
    await post_score(client, token, 5, "kill")  # kill feeds global only
    pushed = await next_update(glob)
    assert pushed["board"] == "global" and pushed["data"]["leaderboard"][0]["score"] == 5
    # neither socket got the other board's push
    for ws in (laps, glob):
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.3)
    unknown = await client.get(f"{WS}?board=nope&token={token}")
    assert unknown.status == 404
    await laps.close()
    await glob.close()
