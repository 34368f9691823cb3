from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from ...appkeys import CONFIG, LAG, PERSISTER, PG, REDIS, REPLICAS
from ...obs import metrics
from .. import envelope, openapi, responses
from ..docs import content, fails, ok, operation

PROBE_TIMEOUT_S = 1.0


@operation(summary="Liveness", responses={**ok(responses.StatusData)})
async def healthz(request: web.Request) -> web.Response:
    return envelope.ok({"status": "ok"})


def _settled(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # read: a probe's failure is its answer, not a logged error


async def _probes(**coros: Awaitable[Any]) -> dict[str, bool]:
    """Each probe's success within PROBE_TIMEOUT_S. The answer does not wait for a late
    probe to let go: cancelling a call on a link that drops packets (a host cut off)
    took redis-py and asyncpg seconds more."""
    tasks = {name: asyncio.ensure_future(coro) for name, coro in coros.items()}
    for task in tasks.values():
        task.add_done_callback(_settled)
    done, late = await asyncio.wait(tasks.values(), timeout=PROBE_TIMEOUT_S)
    for task in late:
        task.cancel()
    return {name: task in done and task.exception() is None for name, task in tasks.items()}


@operation(summary="Prometheus metrics",
           responses={**content("text/plain", "Prometheus text format"), **fails()})
async def metrics_view(request: web.Request) -> web.Response:
    lag = request.app[LAG]
    with contextlib.suppress(Exception):  # a scrape still answers while Redis is down
        waiting, age = await asyncio.wait_for(request.app[PERSISTER].lag(), PROBE_TIMEOUT_S)
        lag.waiting, lag.oldest_age = float(waiting), age
    body, content_type = metrics.render(lag)
    return web.Response(body=body, headers={"Content-Type": content_type})


@operation(summary="Readiness: Redis and PostgreSQL answer",
           responses={**ok(responses.StatusData), **fails(503)})
async def readyz(request: web.Request) -> web.Response:
    app = request.app
    up = await _probes(redis=app[REDIS].ping(), postgres=app[PG].fetchval("SELECT 1"))
    redis_ok, pg_ok = up["redis"], up["postgres"]
    checks = {"redis": "ok" if redis_ok else "down", "postgres": "ok" if pg_ok else "down"}
    watch = app.get(REPLICAS)
    if watch is not None:
        # a shortfall is reported, not refused: with none connected updates still go on
        checks["redis_replicas"] = (
            f"{watch.connected} in sync" if watch.connected
            else "none in sync: updates wait for one (503 until it is back)"
            if watch.pipe.replicas else "none in sync: updates are acknowledged unreplicated")
    if redis_ok and pg_ok:
        return envelope.ok({"status": "ready", "checks": checks})
    down = ", ".join(name for name, state in checks.items() if state == "down")
    return envelope.error(503, "SERVICE_UNAVAILABLE", f"Not ready: {down} unreachable",
                          fields={"checks": checks})


@operation(summary="This document",
           responses={**content("application/json", "OpenAPI 3", "object"), **fails()})
async def openapi_json(request: web.Request) -> web.Response:
    actions = tuple(sorted(request.app[CONFIG].actions))
    return web.Response(body=openapi.served(request.app, actions),
                        content_type="application/json")
