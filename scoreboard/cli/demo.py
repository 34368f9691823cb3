"""``serve --demo``: simulated players scoring through the real API, so the page moves;
on several boards, so the picker has something to pick: `global`, `kills` (fed by
the same action), `best_run` (a keep-best high score), `daily` (reset every midnight
UTC; the page counts down to it), `laps` (an ``asc`` lap-time board fed by an
action of its own, `lap`), `hourly_cup` (a tournament: open the first 45 minutes of
every hour, for the first 8 players to score, 30 tries each) and `league` (weekly
seasons in tiers of buckets of 4: the best of each goes up, the worst down). One
simulated match server writes too, with a server key
(made afresh at each start; the last run's is revoked): every few seconds it reports a
match of four players in one batch, with the map as each score's metadata, so the
page shows both kinds of writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from .. import errors
from ..appkeys import BOARD_ADMIN, CONFIG, KEY_ADMIN, PG, REDIS
from ..auth.tokens import mint
from ..players import users
from ..tasks import background

log = logging.getLogger(__name__)

DEMO_PLAYERS = ["ace", "blaze", "comet", "dash", "echo", "flux", "ghost", "havoc", "ion", "jinx"]
STEP_S = (0.3, 1.2)  # a gentle pace: one update every 0.3-1.2 s
MATCH_S = (3.0, 6.0)  # the match server reports a match every 3-6 s
MATCH_KEY = "demo match server"
MAPS = ["dust", "harbor", "mesa", "tundra"]
CARS = ["rx-7", "gt-r", "supra", "nsx"]


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


DEMO_BOARDS: list[dict[str, Any]] = [
    {"id": "kills", "title": "Kills this session", "actions": ["kill"], "order": "desc",
     "operator": "incr", "reset": None, "timezone": "UTC"},
    {"id": "best_run", "title": "Best single run", "actions": ["kill"], "order": "desc",
     "operator": "best", "reset": None, "timezone": "UTC"},
    {"id": "laps", "title": "Lap times (ms)", "actions": ["lap"], "order": "asc",
     "operator": "best", "reset": None, "timezone": "UTC"},
    {"id": "daily", "title": "Kills today", "actions": ["kill"], "order": "desc",
     "operator": "incr", "reset": "0 0 * * *", "timezone": "UTC"},
]
DEMO_ACTOR = "00000000-0000-0000-0000-000000000000"


def competition_boards(now: datetime) -> list[dict[str, Any]]:
    """A recurring tournament and a league, fed by `kill` as the others are."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    return [
        {"id": "hourly_cup", "title": "Hourly cup (first 45 min, 8 players, 30 tries)",
         "actions": ["kill"], "order": "desc", "operator": "incr", "reset": "0 * * * *",
         "timezone": "UTC", "starts_at": hour, "ends_at": hour + timedelta(minutes=45),
         "max_size": 8, "max_attempts": 30},
        {"id": "league", "title": "Weekly league", "actions": ["kill"], "order": "desc",
         "operator": "incr", "reset": "0 0 * * 1", "timezone": "UTC",
         "league": {"tiers": ["bronze", "silver", "gold"], "bucket_size": 4, "promote": 1,
                    "relegate": 1}},
    ]


async def demo_boards(app: web.Application) -> None:
    """The demo boards, created on first use (`lap` must be in the catalogue for `laps`)."""
    catalogue = app[CONFIG].actions
    for board in DEMO_BOARDS + competition_boards(datetime.now(UTC)):
        if not set(board["actions"]) <= set(catalogue):
            continue
        with contextlib.suppress(errors.Conflict):
            await app[BOARD_ADMIN].create(DEMO_ACTOR, dict(board))


async def _play(base: str, tokens: list[str], laps: bool) -> None:
    async with aiohttp.ClientSession() as session:
        while True:
            await asyncio.sleep(random.uniform(*STEP_S))  # the pace of play, not a wait
            token = random.choice(tokens)
            path = "/api/v1/scores/update"  # every board `kill` feeds
            body: dict[str, object] = {"action_type": "kill",
                                       "score_increment": random.randint(5, 50)}
            if laps and random.random() < 0.3:  # a lap time goes to the lap board only
                path = "/api/v1/boards/laps/scores"
                body = {"action_type": "lap", "score_increment": random.randint(61_000, 95_000),
                        "metadata": {"car": random.choice(CARS)}}
            with contextlib.suppress(aiohttp.ClientError):
                async with session.post(base + path, json=body,
                                        headers={"Authorization": f"Bearer {token}"}) as resp:
                    await resp.read()


async def match_key(app: web.Application) -> str:
    """A fresh server key for the demo's match server (the last run's is revoked: its
    secret was shown once and is gone)."""
    keys = app[KEY_ADMIN]
    for old in await keys.list():
        if old["name"] == MATCH_KEY and old["revoked_at"] is None:
            await keys.revoke(DEMO_ACTOR, old["id"])
    made = await keys.create(DEMO_ACTOR, MATCH_KEY, ["kill"])
    return str(made["key"])


async def _matches(base: str, key: str, players: list[str]) -> None:
    """A match server: four players per match, their kills in one batch."""
    async with aiohttp.ClientSession() as session:
        match = 0
        while True:
            await asyncio.sleep(random.uniform(*MATCH_S))  # the pace of matches
            match += 1
            where = random.choice(MAPS)
            updates = [{"user_id": uid, "action_type": "kill",
                        "score_increment": random.randint(5, 50),
                        "idempotency_key": f"demo-{match}-{uid}",
                        "metadata": {"map": where, "match": match}}
                       for uid in random.sample(players, 4)]
            with contextlib.suppress(aiohttp.ClientError):
                async with session.post(base + "/api/v1/scores/batch", json={"updates": updates},
                                        headers={"Authorization": f"Bearer {key}"}) as resp:
                    await resp.read()


def setup_demo(app: web.Application, *, host: str, port: int) -> None:
    async def step(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        players = await demo_players(app)
        await demo_boards(app)
        tokens = [mint(config, uid) for uid, _ in players]
        viewer = mint(config, players[0][0])
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        base = f"http://{shown}:{port}"
        print(f"\nLive leaderboard: {base}/#token={viewer}\n", file=sys.stderr, flush=True)
        key = await match_key(app) if "kill" in config.actions else None
        async with background(_play(base, tokens, "lap" in config.actions), "demo-players"):
            if key is None:
                yield
                return
            async with background(_matches(base, key, [uid for uid, _ in players]),
                                  "demo-match-server"):
                yield

    app.cleanup_ctx.append(step)

