"""A mixed load with a history of what every client was told, and a checker that
compares that history with what Redis and PostgreSQL hold once things settle.

The load (``Load``): players posting increments of 1, each with its own
Idempotency-Key and retried with that key while no definite answer comes;
readers of the top 10 and of pages; WebSocket watchers; and hostile traffic
(forged tokens, malformed bodies) mixed in. Faults are the caller's: it kills,
stops and restarts servers while the load runs.

The checker (``check``) says, per guarantee, what was broken:

- per player: acknowledged <= PostgreSQL total <= acknowledged + unanswered;
  Redis equals PostgreSQL; one event row per increment (none doubled);
- no answer was a 500, and every hostile request was refused with a 4xx (or
  could not be answered at all while a fault was on);
- every watcher's ``seq`` never went backwards, and each ends on the top 10
  that ``GET top10`` serves.

Every loop is bounded in count and time and stops by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from ..store import keys

UPDATE = "/api/v1/scores/update"
ACTION = "tap"  # the catalogue the harness's services run with: max 5, a huge rate
TIMEOUT = aiohttp.ClientTimeout(total=10)
# a load balancer's own answers when the service gave none (it died mid-request, or no
# host answered in time): to a client, the same as no answer at all
GATEWAY = (502, 504)
RETRIES = 20  # attempts of one Idempotency-Key before it is left unanswered
RETRY_S, RETRY_CAP_S = 0.05, 1.0  # the pause after a first failed attempt, and its cap
MAX_REQUESTS = 100_000  # per loop: a bound on a load left running by mistake
HOSTILE_BODIES: list[Any] = [
    {"action_type": ACTION, "score_increment": "1"},
    {"action_type": ACTION, "score_increment": True},
    {"action_type": ACTION, "score_increment": -1},
    {"action_type": ACTION, "score_increment": 1, "player": "someone else"},
    {"action_type": "no_such_action", "score_increment": 1},
    "[1, 2",
]


@dataclass
class PlayerLog:
    acked: int = 0  # increments answered 200 (a replayed 200 counts once)
    unanswered: int = 0  # increments whose key never got a definite answer
    refused: int = 0  # definite 4xx: must have changed nothing


@dataclass
class WatcherLog:
    seqs: list[int] = field(default_factory=list)
    last: list[dict[str, Any]] | None = None
    connects: int = 0  # connections that got their first message


@dataclass
class History:
    players: dict[str, PlayerLog]
    watchers: list[WatcherLog] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # seen while the load ran
    requests: int = 0


def _definite(status: int) -> bool:
    """An answer that settles a request: 200, or a refusal that changed nothing."""
    return status < 500 and status not in (408, 409)


class Load:
    def __init__(self, bases: list[str], tokens: dict[str, str], *, watchers: int = 3,
                 readers: int = 2, hostile: int = 1, pause_s: float = 0.0) -> None:
        self.bases = bases
        self.tokens = tokens
        self.history = History(players={uid: PlayerLog() for uid in tokens},
                               watchers=[WatcherLog() for _ in range(watchers)])
        self.readers = readers
        self.hostile = hostile
        self.pause_s = pause_s  # between a player's requests, to keep a rate
        self._stop = asyncio.Event()  # writers and readers
        self._closing = asyncio.Event()  # watchers too
        self._tasks: list[asyncio.Task[None]] = []
        self._watching: list[asyncio.Task[None]] = []
        self._session = aiohttp.ClientSession(timeout=TIMEOUT)  # made in a running loop
        self._keys = itertools.count()

    async def __aenter__(self) -> Load:
        loops: list[Coroutine[Any, Any, None]] = [
            self._player(uid, t) for uid, t in self.tokens.items()]
        loops += [self._reader() for _ in range(self.readers)]
        loops += [self._hostile() for _ in range(self.hostile)]
        self._tasks = [asyncio.create_task(loop) for loop in loops]
        tokens = list(self.tokens.values())  # a player may hold only a few sockets
        self._watching = [asyncio.create_task(self._watcher(log, tokens[n % len(tokens)]))
                          for n, log in enumerate(self.history.watchers)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        self._closing.set()
        await asyncio.gather(*self._watching, return_exceptions=True)
        await self._session.close()

    async def stop(self) -> History:
        """Stop writing and reading (watchers go on until the context ends, so they can
        be checked against the settled board)."""
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return self.history

    def acked(self) -> int:
        return sum(p.acked for p in self.history.players.values())

    async def until(self, acked: int, within: float = 60) -> None:
        """Wait (bounded) until at least ``acked`` increments were acknowledged."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.acked() < acked:
            if loop.time() > deadline:
                raise AssertionError(f"only {self.acked()} of {acked} increments acknowledged")
            await asyncio.sleep(0.02)

    def _base(self) -> str:
        return random.choice(self.bases)

    def _note(self, what: str) -> None:
        if len(self.history.violations) < 50:
            self.history.violations.append(what)

    async def _post(self, token: str, body: Any, key: str | None) -> int | None:
        """The status of one attempt, or None when no answer came."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        data = body if isinstance(body, str) else json.dumps(body)
        self.history.requests += 1
        try:
            async with self._session.post(self._base() + UPDATE, data=data,
                                          headers=headers) as resp:
                await resp.read()
                if resp.status == 500:
                    self._note(f"500 on {UPDATE}")
                return None if resp.status in GATEWAY else resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _player(self, uid: str, token: str) -> None:
        log = self.history.players[uid]
        for _ in range(MAX_REQUESTS):
            if self._stop.is_set():
                return
            key = f"k{next(self._keys)}"
            for attempt in range(RETRIES):
                status = await self._post(token, {"action_type": ACTION, "score_increment": 1},
                                          key)
                if status is not None and _definite(status):
                    if status == 200:
                        log.acked += 1
                    else:
                        log.refused += 1
                    break
                if self._stop.is_set():
                    log.unanswered += 1
                    return
                # a client's retry pace (backing off, as the client libraries do), not a
                # wait for a condition
                await asyncio.sleep(min(RETRY_S * 2 ** attempt, RETRY_CAP_S))
            else:
                log.unanswered += 1
            if self.pause_s:
                await asyncio.sleep(self.pause_s)

    async def _hostile(self) -> None:
        forged = ["not.a.token", "Bearer", next(iter(self.tokens.values()))[:-6] + "AAAAAA"]
        real = list(self.tokens.values())
        for n in range(MAX_REQUESTS):
            if self._stop.is_set():
                return
            if n % 2:
                status = await self._post(random.choice(forged),
                                          {"action_type": ACTION, "score_increment": 1}, None)
                expected = {401}
            else:
                status = await self._post(random.choice(real), random.choice(HOSTILE_BODIES),
                                          None)
                expected = {400, 422}
            if status is not None and status not in expected and status != 503:
                self._note(f"hostile request answered {status}, expected {sorted(expected)}")
            await asyncio.sleep(0.01)

    async def _reader(self) -> None:
        for n in range(MAX_REQUESTS):
            if self._stop.is_set():
                return
            path = "/api/v1/leaderboard/top10" if n % 2 else "/api/v1/leaderboard?limit=20"
            try:
                async with self._session.get(self._base() + path) as resp:
                    await resp.read()
                    if resp.status not in (200, 503, *GATEWAY):
                        self._note(f"GET {path} answered {resp.status}")
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.02)

    async def _watcher(self, log: WatcherLog, token: str) -> None:
        for _ in range(MAX_REQUESTS):
            if self._closing.is_set():
                return
            try:
                async with self._session.ws_connect(self._base() + "/ws/leaderboard",
                                                    protocols=(f"bearer.{token}",),
                                                    heartbeat=5) as ws:
                    first = True
                    while not self._closing.is_set():
                        try:
                            msg = await ws.receive_json(timeout=0.5)
                        except TimeoutError:
                            continue
                        seq = int(msg["seq"])
                        if log.seqs and seq < log.seqs[-1]:
                            self._note(f"a watcher's seq went back from {log.seqs[-1]} to {seq}")
                        log.seqs.append(seq)
                        log.last = msg["data"]["leaderboard"]
                        log.connects += first
                        first = False
            except (aiohttp.ClientError, TimeoutError, TypeError, ValueError, KeyError):
                pass  # closed or refused while a fault is on: connect again
            await asyncio.sleep(0.1)


# the checker ---------------------------------------------------------------------------------
async def stored(pool: asyncpg.Pool, redis: Redis) -> dict[str, tuple[int, int, int]]:
    """Per player: (PostgreSQL total, event rows, Redis total)."""
    totals = {str(r["user_id"]): r["total_score"]
              for r in await pool.fetch("SELECT user_id, total_score FROM scores")}
    events = {str(r["user_id"]): r["n"] for r in await pool.fetch(
        "SELECT user_id, count(*) AS n FROM score_events GROUP BY user_id")}
    rows: list[Any] = list(await redis.zrange(keys.SCORES, 0, -1, withscores=True))
    rows += await redis.zrange(keys.HIDDEN, 0, -1, withscores=True)
    live = {keys.parse_member(m): int(s) for m, s in rows}
    return {uid: (totals.get(uid, 0), events.get(uid, 0), live.get(uid, 0))
            for uid in set(totals) | set(live)}


async def settle(pool: asyncpg.Pool, redis: Redis, history: History,
                 within: float = 60) -> None:
    """Wait (bounded) until PostgreSQL holds what Redis holds for every player."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        state = await stored(pool, redis)
        if all(state.get(uid, (0, 0, 0))[0] == state.get(uid, (0, 0, 0))[2]
               for uid in history.players):
            return
        if loop.time() > deadline:
            return  # the checker reports what is still different
        await asyncio.sleep(0.05)


async def check(history: History, pool: asyncpg.Pool, redis: Redis,
                top10: Callable[[], Awaitable[list[dict[str, Any]]]],
                within: float = 30) -> list[str]:
    """Every broken guarantee, one line each; [] when all held. Call after ``settle``."""
    problems = list(history.violations)
    state = await stored(pool, redis)
    for uid, log in history.players.items():
        pg, events, live = state.get(uid, (0, 0, 0))
        if not log.acked <= pg <= log.acked + log.unanswered:
            problems.append(f"{uid}: PostgreSQL holds {pg}, but {log.acked} were acknowledged "
                            f"and {log.unanswered} unanswered")
        if live != pg:
            problems.append(f"{uid}: Redis holds {live}, PostgreSQL {pg}")
        if events != pg:
            problems.append(f"{uid}: {events} event rows for a total of {pg}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:  # watchers get the last change pushed; give them a bounded while
        served = await top10()
        behind = [n for n, w in enumerate(history.watchers) if w.last != served]
        if not behind or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    for n in behind:
        problems.append(f"watcher {n} ended on a top 10 other than GET top10's")
    return problems
