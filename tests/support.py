"""What the tests share: client helpers that check the envelope, waiting on a
condition with a deadline, a ``scoreboard serve`` subprocess, and the totals
Redis and PostgreSQL hold."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from scoreboard.settings import Config
from scoreboard.store import keys
from scoreboard.testing.servers import free_port

SECRET = "test-secret-" + "x" * 60


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_score(client: Any, token: str, increment: int = 10,
                     action: str = "level_complete", *, key: str | None = None,
                     status: int = 200) -> dict[str, Any]:
    """POST an update and check the status and the seed's envelope."""
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.post("/api/v1/scores/update", headers=headers,
                             json={"action_type": action, "score_increment": increment})
    body = await resp.json()
    assert resp.status == status, body
    assert body["success"] is (status == 200)
    assert isinstance(body["timestamp"], int) if status == 200 else "error" in body
    return dict(body)


async def call(client: Any, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    """A request whose status is checked; returns the JSON body."""
    resp = await client.request(method, path, **kw)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 15.0,
                     what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)


@contextmanager
def serve(config: Config, tmp: Path, stderr: Any = None, args: tuple[str, ...] = (),
          **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    actions = tmp / "actions.json"
    actions.write_text(json.dumps({"tap": {"max_increment": 5, "rate_per_minute": 10**6}}))
    full = {**os.environ, "REDIS_URL": config.redis_url or "",
            "DATABASE_URL": config.database_url or "", "JWT_SECRET": SECRET,
            "ACTIONS_FILE": str(actions), "PERSIST_INTERVAL_S": "0.1",
            "PERSIST_CLAIM_IDLE_MS": "500", "LOG_LEVEL": "WARNING", **env}
    proc = subprocess.Popen([sys.executable, "-m", "scoreboard", "serve", "--port", str(port),
                             *args], env=full, stderr=stderr)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


async def wait_ready(base: str) -> None:
    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(base + "/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(ready, within=60, what=f"{base} ready")


async def redis_totals(redis: Redis) -> dict[str, int]:
    rows = await redis.zrange(keys.SCORES, 0, -1, withscores=True)
    hidden = await redis.zrange(keys.HIDDEN, 0, -1, withscores=True)
    return {keys.parse_member(m): int(s) for m, s in rows + hidden}


async def pg_totals(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT user_id, total_score FROM scores")
    return {str(r["user_id"]): r["total_score"] for r in rows}


def killed_mid_cut(call: str) -> str:
    """A script (argv: database URL, Redis URL) that runs ``call`` on a ``seasons``
    (board/seasons.Seasons) and dies (-9) right after a season's cut reached Redis,
    before PostgreSQL committed it."""
    return textwrap.dedent("""
        import asyncio, os, signal, sys
        from datetime import UTC, datetime, timedelta
        import asyncpg
        from redis.asyncio import Redis
        from scoreboard.board import seasons as module
        from scoreboard.board.registry import Boards

        async def main():
            pool = await asyncpg.create_pool(sys.argv[1], min_size=1, max_size=2)
            redis = Redis.from_url(sys.argv[2])
            seasons = module.Seasons(pool, redis, Boards(redis, pool))
            store = module.store

            async def cut_then_die(redis, board, **kw):
                await store(redis, board, **kw)  # Redis is in the next season
                os.kill(os.getpid(), signal.SIGKILL)  # PostgreSQL has not committed

            module.store = cut_then_die
            await seasons.%s

        asyncio.run(main())
    """) % call


async def racing_checks(database_url: str, redis_url: str, n: int, at: datetime
                        ) -> list[list[str]]:
    """``n`` processes' season checks (board/seasons.Seasons, each with its own pool and
    Redis client) run at once as of ``at``: the boards each one ended."""
    from scoreboard.board.registry import Boards
    from scoreboard.board.seasons import Seasons

    pools = [await asyncpg.create_pool(database_url, min_size=1, max_size=2) for _ in range(n)]
    clients = [Redis.from_url(redis_url) for _ in range(n)]
    try:
        checkers = [Seasons(p, r, Boards(r, p)) for p, r in zip(pools, clients, strict=True)]
        return list(await asyncio.gather(*(s.check(at) for s in checkers)))
    finally:
        for p in pools:
            await p.close()
        for r in clients:
            await r.aclose()
