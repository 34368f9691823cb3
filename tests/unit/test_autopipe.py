"""The auto-pipeline on a real Redis: the calls of one turn of the event loop leave in
sends of at most SEND_AT calls, replies come back to their own callers, and with
replicas asked for, one WAIT follows the turn's last write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scoreboard.store.autopipe import SEND_AT, AutoPipeline, NotReplicated


class Sends:
    """What the pipeline writes to its connection, one entry per send."""

    def __init__(self, pipe: AutoPipeline) -> None:
        assert pipe._writer is not None
        self.sends: list[bytes] = []
        write = pipe._writer.write

        def recorded(data: Any) -> None:
            self.sends.append(bytes(data))
            write(data)

        pipe._writer.write = recorded  # type: ignore[method-assign]


async def test_a_turn_of_calls_leaves_in_sends_of_send_at(redis_url: str) -> None:
    pipe = AutoPipeline(redis_url, timeout=5.0)
    try:
        await pipe.call("PING")  # connected
        sends = Sends(pipe)
        n = 2 * SEND_AT + 3
        replies = await asyncio.gather(*(pipe.call("ECHO", f"call-{i}") for i in range(n)))
        assert replies == [f"call-{i}".encode() for i in range(n)]
        assert [s.count(b"ECHO") for s in sends.sends] == [SEND_AT, SEND_AT, 3]
    finally:
        await pipe.aclose()


async def test_one_wait_follows_every_durable_call_of_a_turn(redis_url: str) -> None:
    # no replica ever acknowledges: each durable call must be refused, whichever send
    # it left in; the turn's one WAIT goes after its last write (WAITs on one connection
    # run one after another, so one per send would add up)
    pipe = AutoPipeline(redis_url, timeout=0.5, replicas=1)
    try:
        await pipe.call("PING")
        sends = Sends(pipe)
        n = SEND_AT + 2
        results = await asyncio.gather(
            *(pipe.call("SET", f"sb:test:durable:{i}", i, durable=True) for i in range(n)),
            return_exceptions=True)
        assert all(isinstance(r, NotReplicated) for r in results), results
        assert [s.count(b"SET") for s in sends.sends] == [SEND_AT, 2]
        assert [s.count(b"WAIT") for s in sends.sends] == [0, 1]
        assert sends.sends[-1].rindex(b"WAIT") > sends.sends[-1].rindex(b"SET")
    finally:
        await pipe.aclose()


@pytest.mark.parametrize("n", [1, SEND_AT - 1, SEND_AT])
async def test_a_small_turn_is_one_send(redis_url: str, n: int) -> None:
    pipe = AutoPipeline(redis_url, timeout=5.0)
    try:
        await pipe.call("PING")
        sends = Sends(pipe)
        await asyncio.gather(*(pipe.call("ECHO", str(i)) for i in range(n)))
        assert len(sends.sends) == 1
    finally:
        await pipe.aclose()
