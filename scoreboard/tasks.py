"""Background work a resource owns: a task that lives as long as a context, and the
rule every retrying loop follows when its task is being cancelled."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any


@contextlib.asynccontextmanager
async def background(coro: Coroutine[Any, Any, None],
                     name: str | None = None) -> AsyncIterator[asyncio.Task[None]]:
    """``coro`` as a task for the length of the ``async with``; cancelled and awaited at
    its end."""
    task = asyncio.create_task(coro, name=name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def reraise_if_cancelling() -> None:
    """redis-py may turn a cancellation into a connection error; a loop that retries on
    errors must still stop when its task is being cancelled."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
