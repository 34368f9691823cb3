"""How a serving process waits: a stop request is an event, so a start-up step that
swallows its cancellation cannot make the process miss a signal."""

from __future__ import annotations

import asyncio

import pytest

from scoreboard.cli.server import _unless


async def test_a_step_that_ends_first_counts() -> None:
    stop = asyncio.Event()
    ran = []

    async def step() -> None:
        ran.append(True)

    assert await _unless(stop, step()) is True
    assert ran == [True]


async def test_a_stop_cancels_the_step() -> None:
    stop = asyncio.Event()
    started = asyncio.Event()
    outcome = []

    async def step() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    waiting = asyncio.create_task(_unless(stop, step()))
    await started.wait()
    stop.set()
    assert await waiting is False
    assert outcome == ["cancelled"]


async def test_a_swallowed_cancellation_still_means_stop() -> None:
    """Python 3.11's asyncio.wait_for can swallow a cancellation that lands as its inner
    call finishes; a start-up step doing so runs to its end, and that is no reason to
    serve on."""
    stop = asyncio.Event()
    started = asyncio.Event()
    outcome = []

    async def stubborn() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("swallowed")
        outcome.append("finished")

    waiting = asyncio.create_task(_unless(stop, stubborn()))
    await started.wait()
    stop.set()
    assert await waiting is False
    assert outcome == ["swallowed", "finished"]


async def test_a_start_up_error_goes_up() -> None:
    async def broken() -> None:
        raise ConnectionRefusedError("no Redis")

    with pytest.raises(ConnectionRefusedError, match="no Redis"):
        await _unless(asyncio.Event(), broken())
