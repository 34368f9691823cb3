"""What the client tests share: a real service (``scoreboard serve`` in a subprocess,
on the harness's Redis and PostgreSQL), and a TCP proxy in front of it that can cut
a connection after the service answered and before the client reads the answer, or
move to another service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from scoreboard.settings import Config
from tests.support import serve, wait_ready

# `slow`: 60 a minute, so the 61st of a burst waits about a second (Retry-After)
ACTIONS = {"kill": {"max_increment": 50, "rate_per_minute": 10**6},
           "slow": {"max_increment": 5, "rate_per_minute": 60}}


@contextlib.contextmanager
def service(config: Config, tmp: Path) -> Iterator[tuple[Any, str]]:
    tmp.mkdir(parents=True, exist_ok=True)
    actions = tmp / "client-actions.json"
    actions.write_text(json.dumps(ACTIONS))
    with serve(config, tmp, ACTIONS_FILE=str(actions)) as (proc, base):
        yield proc, base


@pytest.fixture
async def base(config: Config, tmp_path: Path, pool: Any, redis: Any) -> AsyncIterator[str]:
    """The URL of a running service, started once the test's database and Redis are
    clean (``pool``, ``redis``)."""
    with service(config, tmp_path / "svc") as (_, url):
        await wait_ready(url)
        yield url


class Proxy:
    """Forwards 127.0.0.1:<port> to ``target`` (host, port). ``cut_next_answer()``: the
    next bytes the service sends back are dropped and the client's connection closed
    (the request reached the service; its answer never reaches the client)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.cuts = 0  # answers cut so far
        self._cut = False
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_next_answer(self) -> None:
        self._cut = True

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()
        if self._server is not None:
            await self._server.wait_closed()

    def drop_all(self) -> None:
        for w in list(self._conns):
            w.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._conns |= {writer, up_w}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                       answers: bool) -> None:
            try:
                while data := await src.read(65536):
                    if answers and self._cut:
                        self._cut = False
                        self.cuts += 1
                        writer.close()  # the client never sees this answer
                        up_w.close()
                        return
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_w, False), pump(up_r, writer, True))
        self._conns -= {writer, up_w}


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


@contextlib.asynccontextmanager
async def replaced(proc: Any, proxy: Proxy, config: Config,
                   tmp: Path) -> AsyncIterator[str]:
    """The service ``proc`` behind ``proxy`` killed (-9) and another started in its place,
    the proxy moved to it (its connections dropped); yields the new one's URL."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proxy.drop_all()
    with service(config, tmp) as (_, base):
        await wait_ready(base)
        proxy.target = address(base)
        yield base


@pytest.fixture
async def proxy(base: str) -> AsyncIterator[Proxy]:
    p = Proxy(address(base))
    await p.start()
    try:
        yield p
    finally:
        await p.close()
