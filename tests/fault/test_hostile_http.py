"""Hostile clients against a real ``scoreboard serve``: compressed bodies, trickled
heads and bodies, piles of connections, clients that vanish mid-body. None of
them gets a 500 or starves a real client."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scoreboard.settings import Config
from tests.support import eventually, serve, wait_ready

UPDATE = "/api/v1/scores/update"
BODY = json.dumps({"action_type": "tap", "score_increment": 1}).encode()


@pytest.fixture
def service(config: Config, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A service with a short read deadline and a small connection cap."""
    log = tmp_path / "stderr.log"
    with log.open("wb") as err, serve(config, tmp_path, stderr=err, HTTP_READ_TIMEOUT_S="1",
                                      HTTP_MAX_CONNECTIONS="20", LOG_LEVEL="INFO") as (_, base):
        yield base, log


async def raw(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = base.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """What the server sent before closing (b'' if nothing); fails if it never closes.
    A client still writing when the server closes may see a reset rather than the end
    of the stream (its bytes reached a closed socket): closed all the same."""
    try:
        return await asyncio.wait_for(reader.read(), within)
    except ConnectionResetError:
        return b""


async def healthy(base: str) -> bool:
    async with aiohttp.ClientSession() as s, s.get(base + "/healthz") as r:
        return r.status == 200


async def status_count(base: str, status: str) -> float:
    async with aiohttp.ClientSession() as s, s.get(base + "/metrics") as r:
        text = await r.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("scoreboard_http_requests_total{")
               and f'status="{status}"' in line)


def head(method: str, path: str, token: str, length: int, **extra: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", f"Authorization: Bearer {token}",
             "Content-Type: application/json", f"Content-Length: {length}",
             *(f"{k}: {v}" for k, v in extra.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_compressed_bodies_are_refused_not_inflated(service: tuple[str, Path],
                                                          make_player: Any) -> None:
    base, log = service
    await wait_ready(base)
    _, token = await make_player()
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as s:
        for encoding, payload in (("gzip", gzip.compress(BODY)),
                                  ("gzip", b"\x1f\x8bnot really gzip"),
                                  ("deflate", b"\x78\x9c garbage")):
            async with s.post(base + UPDATE, data=payload,
                              headers={**auth, "Content-Encoding": encoding}) as r:
                body = await r.json()
                assert r.status == 415, body
                assert body["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
        # a bomb on an unknown path: refused by routing, never inflated
        bomb = gzip.compress(b"\0" * (1 << 20))
        async with s.post(base + "/nowhere", data=bomb,
                          headers={"Content-Encoding": "gzip"}) as r:
            assert r.status == 404
        async with s.post(base + UPDATE, json={"action_type": "tap", "score_increment": 1},
                          headers=auth) as r:
            assert r.status == 200  # plain bodies still work
    assert await status_count(base, "500") == 0
    assert "Traceback" not in log.read_text()


async def test_a_trickled_head_is_cut_off(service: tuple[str, Path]) -> None:
    base, _ = service
    await wait_ready(base)
    reader, writer = await raw(base)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")

    async def trickle() -> None:
        for _ in range(100):  # bounded: 20 s at most
            writer.write(b"X")
            await asyncio.sleep(0.2)  # the pace of the attack, not a wait for a condition

    dripping = asyncio.create_task(trickle())
    try:
        assert await closed_by_server(reader, within=15) == b""
        assert await healthy(base)
    finally:
        dripping.cancel()
        writer.close()


async def test_a_trickled_body_gets_408(service: tuple[str, Path], make_player: Any) -> None:
    base, _ = service
    await wait_ready(base)
    _, token = await make_player()
    reader, writer = await raw(base)
    writer.write(head("POST", UPDATE, token, len(BODY)) + BODY[:5])
    answer = await closed_by_server(reader, within=15)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert b'"REQUEST_TIMEOUT"' in answer
    assert await healthy(base)


async def test_idle_connections_do_not_starve_real_clients(service: tuple[str, Path]) -> None:
    base, _ = service
    await wait_ready(base)
    idle = [await raw(base) for _ in range(40)]  # twice the cap, saying nothing
    try:
        for _ in range(3):
            assert await healthy(base)  # room is made by closing the oldest silent ones
        answers = await asyncio.gather(*(closed_by_server(r, within=15) for r, _ in idle))
        assert answers == [b""] * len(idle)  # each closed, by eviction or its deadline
    finally:
        for _, w in idle:
            w.close()


async def test_busy_connections_past_the_cap_get_a_clean_503(config: Config, tmp_path: Path,
                                                             make_player: Any) -> None:
    _, token = await make_player()
    with serve(config, tmp_path, HTTP_READ_TIMEOUT_S="30", HTTP_MAX_CONNECTIONS="10") as (
            _, base):
        await wait_ready(base)
        busy = []
        for _ in range(10):  # every slot holds a started request whose body is pending
            reader, writer = await raw(base)
            writer.write(head("POST", UPDATE, token, len(BODY), Expect="100-continue"))
            # the server has parsed the head and started the request
            assert await asyncio.wait_for(reader.readline(), 15) == b"HTTP/1.1 100 Continue\r\n"
            busy.append((reader, writer))

        async def refused() -> bool:
            reader, writer = await raw(base)
            try:
                answer = await closed_by_server(reader, within=15)
            finally:
                writer.close()
            return answer.startswith(b"HTTP/1.1 503 ")

        try:
            await eventually(refused, what="a clean 503 for the 11th connection")
            reader, writer = await raw(base)
            answer = await closed_by_server(reader, within=15)
            writer.close()
            _, _, rest = answer.partition(b"\r\n\r\n")
            assert json.loads(rest)["error"]["code"] == "SERVICE_UNAVAILABLE"
        finally:
            for _, w in busy:
                w.close()
        await eventually(lambda: healthy(base), what="served again once they left")


async def test_a_client_gone_mid_body_is_no_error(service: tuple[str, Path],
                                                  make_player: Any) -> None:
    base, log = service
    await wait_ready(base)
    _, token = await make_player()
    for _ in range(5):
        _, writer = await raw(base)
        writer.write(head("POST", UPDATE, token, 100) + b'{"action')
        await writer.drain()
        writer.close()
    assert await healthy(base)
    assert await status_count(base, "500") == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert not [line for line in lines if line["level"] == "error"], lines



async def test_unparsable_requests_log_no_token_and_no_error(service: tuple[str, Path],
                                                             make_player: Any) -> None:
    base, log = service
    await wait_ready(base)
    _, token = await make_player()
    for request in (f"GET /ws/leaderboard?token={token} HTTP/1.1 extra\r\n\r\n",
                    f"GET /ws/leaderboard?token={token} HTTP/1.1\r\nHost: x\r\nBad\x01H: y\r\n\r\n",
                    f"G\x00T /x?token={token} HTTP/1.1\r\n\r\n"):
        reader, writer = await raw(base)
        writer.write(request.encode("latin-1"))
        answer = await closed_by_server(reader, within=15)
        writer.close()
        assert answer.startswith(b"HTTP/1.0 400 ") or answer.startswith(b"HTTP/1.1 400 ")
    assert await healthy(base)
    text = log.read_text()
    assert token not in text and token.split(".")[2] not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert any(line["logger"] == "aiohttp.server" for line in lines)  # they were logged
    assert not [line for line in lines if line["level"] == "error"]


async def test_a_malformed_head_gets_the_envelope_and_names_no_versions(
        service: tuple[str, Path]) -> None:
    """aiohttp's own 400 page is text/plain with ``Server: Python/3.x aiohttp/3.y``; the
    service answers its errors with the envelope and its own Server header."""
    base, _ = service
    await wait_ready(base)
    for request in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
                    b"GET / HTTP/9.9\r\n\r\n", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n"):
        reader, writer = await raw(base)
        writer.write(request)
        answer = await closed_by_server(reader, within=15)
        writer.close()
        head_, _, body = answer.partition(b"\r\n\r\n")
        status = int(head_.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:200]
        lower = head_.lower()
        assert b"content-type: application/json" in lower and b"server: scoreboard" in lower
        assert b"aiohttp" not in answer.lower() and b"python/" not in answer.lower()
        envelope = json.loads(body)
        assert envelope["success"] is False and envelope["error"]["code"] == "VALIDATION_ERROR"
    assert await healthy(base)
