"""The admin console: its page, and the admin routes only it needs (players by prefix,
the audit log, the first screen's live numbers)."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from ... import errors
from ...appkeys import CONFIG, HUB, PERSISTER, PG, REDIS
from ...board.reader import MAX_PAGE
from ...players import directory
from ...store import keys
from .. import envelope, responses
from ..docs import BEARER, content, fails, int_query, ok, operation
from . import reads
from .common import admin
from .page import PAGE_HEADERS, STATIC

CONSOLE = STATIC / "admin.html"
USERS_PAGE = 20
SAMPLE = "{lb}:console:rate"  # hash: t (ms), seq, rate: the last updates/s sample
CURSOR = {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}}


@operation(summary="The admin console (a page; everything it shows comes from the admin "
                   "API with an admin token)",
           responses={**content("text/html", "HTML"), **fails()})
async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(CONSOLE, headers=PAGE_HEADERS)


@operation(summary="Players whose username starts with q, any case, by username (admin)",
           security=BEARER,
           parameters=[{"name": "q", "in": "query", "required": False,
                        "schema": {"type": "string", "maxLength": 50}},
                       int_query("limit", 1, MAX_PAGE, USERS_PAGE), CURSOR],
           responses={**ok(responses.UserList), **fails(400, 401, 403, 503)})
async def users(request: web.Request) -> web.Response:
    await admin(request)
    q = request.query.get("q", "")
    cursor = request.query.get("cursor") or None
    for name, value in (("q", q), ("cursor", cursor or "")):
        # a username is at most 50 printable characters: so is its prefix (PostgreSQL
        # text holds no NUL)
        if len(value) > 50 or not value.isprintable():
            raise errors.ValidationFailed(
                fields={name: ["At most 50 printable characters."]})
    limit = reads.int_param(request, "limit", USERS_PAGE, 1, MAX_PAGE)
    found, more = await directory.search(request.app[PG], q, limit, cursor,
                                         request.app[CONFIG].request_timeout_s)
    return envelope.ok({"users": found, "next_cursor": more})


@operation(summary="The audit log, newest first: who did what to what, when (admin)",
           security=BEARER,
           parameters=[int_query("limit", 1, MAX_PAGE, 50),
                       {"name": "cursor", "in": "query", "required": False,
                        "schema": {"type": "string", "pattern": "^[1-9][0-9]{0,18}$"}}],
           responses={**ok(responses.AuditList), **fails(400, 401, 403, 503)})
async def audit(request: web.Request) -> web.Response:
    await admin(request)
    limit = reads.int_param(request, "limit", 50, 1, MAX_PAGE)
    cursor = reads.int_param(request, "cursor", 0, 1, 2**62) or None
    entries, more = await directory.audit_page(request.app[PG], limit, cursor,
                                               request.app[CONFIG].request_timeout_s)
    return envelope.ok({"entries": entries, "next_cursor": more})


@operation(summary="The console's live numbers: updates/s (every process), watchers (this "
                   "process), persistence lag, open flags (admin)", security=BEARER,
           responses={**ok(responses.Summary), **fails(401, 403, 503)})
async def summary(request: web.Request) -> web.Response:
    await admin(request)
    app = request.app
    timeout = app[CONFIG].request_timeout_s
    waiting, age = await asyncio.wait_for(app[PERSISTER].lag(), timeout)
    open_flags = await app[PG].fetchval("SELECT count(*) FROM flags WHERE status = 'open'",
                                        timeout=timeout)
    return envelope.ok({"updates_per_s": await updates_per_s(app),
                        "watchers": len(app[HUB].clients),
                        "persist_waiting": int(waiting), "persist_lag_s": round(age, 3),
                        "open_flags": int(open_flags)})


async def updates_per_s(app: web.Application) -> float:
    """Updates a second over the last sample (at least a second apart), from the board
    sequence every update takes: the same figure from every process."""
    redis = app[REDIS]
    now = int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.SEQ)
        pipe.hmget(SAMPLE, "t", "seq", "rate")
        raw_seq, (t0, seq0, rate) = await pipe.execute()
    seq = int(raw_seq or 0)
    if t0 is None or now - int(t0) >= 1000:
        rate = (seq - int(seq0)) * 1000 / (now - int(t0)) if t0 is not None else 0.0
        await redis.hset(SAMPLE, mapping={"t": now, "seq": seq, "rate": rate})
        await redis.pexpire(SAMPLE, 60_000)
    return round(float(rate or 0.0), 1)

