"""``serve --demo``: simulated players scoring through the real API, so the page moves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from .. import errors
from ..appkeys import CONFIG, PG, REDIS
from ..auth.tokens import mint
from ..players import users

log = logging.getLogger(__name__)

DEMO_PLAYERS = ["ace", "blaze", "comet", "dash", "echo", "flux", "ghost", "havoc", "ion", "jinx"]
STEP_S = (0.3, 1.2)  # a gentle pace: one update every 0.3-1.2 s


async def demo_players(app: web.Application) -> list[tuple[str, str]]:
    """(id, username) of the demo players, created on first use."""
    pool, redis = app[PG], app[REDIS]
    out = []
    for name in DEMO_PLAYERS:
        username = f"demo_{name}"
        avatar = f"/static/avatars/{name[0]}.svg"
        try:
            user = await users.create(pool, redis, username, f"{username}@demo.invalid", avatar)
            uid = user["id"]
        except errors.Conflict:
            uid = str(await pool.fetchval("SELECT id FROM users WHERE username = $1", username))
        out.append((uid, username))
    return out


async def _play(base: str, tokens: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(random.uniform(*STEP_S))  # the pace of play, not a wait
            token = random.choice(tokens)
            body = {"action_type": "kill", "score_increment": random.randint(5, 50)}
            with contextlib.suppress(aiohttp.ClientError):
                async with session.post(f"{base}/api/v1/scores/update", json=body,
                                        headers={"Authorization": f"Bearer {token}"}) as resp:
                    await resp.read()


def setup_demo(app: web.Application, *, host: str, port: int) -> None:
    async def step(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        players = await demo_players(app)
        tokens = [mint(config, uid) for uid, _ in players]
        viewer = mint(config, players[0][0])
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        base = f"http://{shown}:{port}"
        print(f"\nLive leaderboard: {base}/#token={viewer}\n", file=sys.stderr, flush=True)
        task = asyncio.create_task(_play(base, tokens))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(step)

