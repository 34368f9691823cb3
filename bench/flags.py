"""The anomaly detectors against a generated population, and what they cost the update
path, measured in one run.

    python -m bench.flags [--honest 400] [--cheaters 10] [--minutes 30] [--speed 30]
                          [--rounds 6] [--seconds 2]

Part 1, detection. A real service (one process, detectors on, as shipped but for the
time settings below) and players posting through the HTTP API: ``--honest`` players
with human-like variability (skills spread over a factor of ten, sessions with
breaks, lognormal gaps between submissions, half a game minute on average, values
spread below the caps and now and then at one) and ``--cheaters`` of each kind: a
fixed-cadence bot (every gap the same, give or take 2%), a cap-hugger (nine
submissions in ten at the cap, human timing), a rate outlier (human timing, some
twenty times an honest player's gain) and an impossible jump (a normal history on a
best board, then one score far beyond anyone's).

Time is compressed through settings, not a fake clock: ``--speed`` game seconds pass
per real second, so every player acts ``--speed`` times faster and
``FLAG_RATE_WINDOW_S`` is divided by it; cadence, at_cap and jump look at shapes, not
durations. ``--minutes`` of game time are played. Printed per detector: recall on its
cheaters, the honest players it flagged, and the time from the first cheating event to
the flag (real seconds; multiply by ``--speed`` for game time).

Part 2, the update path. Two services at once, each on its own Redis (one with the
detectors running every second, one with ``DETECT_INTERVAL_S=0``), and hello world,
driven by wrk in interleaved rounds: the update rate with the detectors running against
the same without them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    UPDATE_BODY,
    backing_servers,
    hello_world,
    interleaved,
    medians,
    print_ratio,
    report,
    round_ratios,
    service,
    token_script,
)
from bench.updates import HELLO_SCRIPT, make_players, persisted
from scoreboard.settings import Config
from scoreboard.testing.servers import RedisServer

CAP = 1000
ACTIONS = {"score": {"max_increment": CAP, "rate_per_minute": 10**6},
           "run": {"max_increment": 10**6, "rate_per_minute": 10**6},
           "bench": {"max_increment": 1000, "rate_per_minute": 10**9}}
KINDS = ("cadence", "at_cap", "rate", "jump")


@dataclass
class Player:
    uid: str
    token: str
    kind: str  # honest, or the detector that should catch them
    skill: float
    first_cheat: float | None = None  # real time of the first cheating event
    posted: int = 0
    best_run: float = 0.0
    runs: list[float] = field(default_factory=list)


async def make_population(base: str, admin: str, n_honest: int, n_each: int
                          ) -> list[Player]:
    """Players made through the admin API, each with a token from the service's CLI
    secret (the bench mints them as `scoreboard token` would)."""
    from bench.common import SECRET
    from scoreboard.auth.tokens import mint
    from scoreboard.settings import Config

    cfg = Config(jwt_secret=SECRET)
    rng = random.Random(42)
    kinds = ["honest"] * n_honest + [k for k in KINDS for _ in range(n_each)]
    out = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as s:
        for i, kind in enumerate(kinds):
            name = f"p{i}_{rng.randrange(10**6)}"
            async with s.post(base + "/api/v1/admin/users",
                              json={"username": name, "email": f"{name}@x.io"}) as r:
                user = (await r.json())["data"]
            out.append(Player(user["id"], mint(cfg, user["id"]), kind,
                              skill=math.exp(rng.uniform(math.log(0.3), math.log(3.0)))))
    return out


def human_gap(rng: random.Random, mean_s: float) -> float:
    """A gap between a person's submissions: lognormal, and now and then a break."""
    gap = rng.lognormvariate(math.log(mean_s) - 0.3, 0.8)
    if rng.random() < 0.04:
        gap += rng.uniform(5, 20) * mean_s  # a break
    return gap


async def play(base: str, p: Player, speed: float, until: float, rng: random.Random,
               session: aiohttp.ClientSession) -> None:
    """One player's game, in compressed time."""
    mean_gap = 30.0 / speed  # a submission every half a game minute, on average
    headers = {"Authorization": f"Bearer {p.token}"}
    runs_before_jump = rng.randint(3, 6)
    await asyncio.sleep(rng.uniform(0, 3 * mean_gap))  # players join over time
    while time.monotonic() < until:
        action, value = "score", 0
        if p.kind == "cadence":
            gap = 0.7 * mean_gap * rng.uniform(0.98, 1.02)
            value = int(rng.uniform(100, 700))
        else:
            gap = human_gap(rng, mean_gap)
            value = min(CAP - 1, max(1, int(rng.lognormvariate(math.log(200 * p.skill), 0.5))))
            if rng.random() < 0.03:
                value = CAP  # a great round: the cap, now and then
            if p.kind == "at_cap" and rng.random() < 0.9:
                value = CAP
            if p.kind == "rate":
                gap /= 4  # four times as often, near the cap: some twenty times the gain
                value = rng.randint(CAP - 120, CAP - 1)
        share = 0.5 if p.kind == "jump" else 0.25
        if p.kind in ("honest", "jump") and rng.random() < share:  # a run on the best board
            action = "run"
            value = max(1, int(rng.gauss(1000 * p.skill, 150 * p.skill)))
            if p.kind == "jump" and len(p.runs) >= runs_before_jump and p.first_cheat is None:
                value = max(int(10 * max(p.runs)), 40_000)  # beyond anyone's
                p.first_cheat = time.monotonic()
            p.runs.append(value)
        elif p.kind in ("cadence", "at_cap", "rate") and p.first_cheat is None:
            p.first_cheat = time.monotonic()
        await asyncio.sleep(gap)  # the pace of play
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.post(base + "/api/v1/scores/update", headers=headers,
                                    json={"action_type": action,
                                          "score_increment": value}) as r:
                await r.read()
                p.posted += r.status == 200


async def detection(base: str, admin: str, redis_url: str,
                    args: argparse.Namespace) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"}) as s:
        async with s.post(base + "/api/v1/admin/boards",
                          json={"id": "best_run", "title": "Best run", "actions": ["run"],
                                "operator": "best"}) as r:
            assert r.status == 201, await r.text()
    players = await make_population(base, admin, args.honest, args.cheaters)
    rng = random.Random(7)
    started = time.monotonic()
    until = started + args.minutes * 60 / args.speed
    conn = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=conn) as session:
        await asyncio.gather(*(play(base, p, args.speed, until, random.Random(rng.random()),
                                    session) for p in players))
        flags = await collect_flags(base, admin, session, players, until + 30)
    out = summarize(players, flags, args, started)
    out["rate_z"] = await gains_now(redis_url, players, args.speed)
    return out


async def gains_now(redis_url: str, players: list[Player], speed: float) -> dict[str, float]:
    """The rate detector's robust z-scores of every player's gain on `global` at the end,
    as its statistic sees them: the margin between honest players and the cheaters."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        rows: list[Any] = await redis.zrange("{lb}:det:r:global", 0, -1, withscores=True)
        mark = float(await redis.hget("{lb}:det:r:global:since", "mark") or 0)
        now_s = time.time()
    finally:
        await redis.aclose()
    tau = Config().flag_rate_window_s / speed
    scale = math.exp(-(now_s - mark) / tau)  # forward decay (detect.lua): the gains now
    gains = {m.decode(): float(s) * scale for m, s in rows}
    values = sorted(gains.values())
    med = values[len(values) // 2]
    mad = max(statistics.median(abs(v - med) for v in values) * 1.4826, med * 0.05)
    kinds = {p.uid: p.kind for p in players}
    z = {uid: (g - med) / mad for uid, g in gains.items()}
    honest = [v for uid, v in z.items() if kinds.get(uid) == "honest"]
    cheats = [v for uid, v in z.items() if kinds.get(uid) == "rate"]
    out = {"honest_max": max(honest), "honest_p999": sorted(honest)[int(len(honest) * 0.999)],
           "rate_cheaters_min": min(cheats) if cheats else float("nan")}
    print(f"rate z at the end on global: honest max {out['honest_max']:.1f} (p99.9 "
          f"{out['honest_p999']:.1f}), rate cheaters min {out['rate_cheaters_min']:.1f}")
    return out


async def collect_flags(base: str, admin: str, session: aiohttp.ClientSession,
                        players: list[Player], deadline: float) -> list[dict[str, Any]]:
    """Every flag, once the detectors have caught up (or ``deadline`` passed)."""
    headers = {"Authorization": f"Bearer {admin}"}
    cheaters = {p.uid for p in players if p.kind != "honest"}
    flags: list[dict[str, Any]] = []
    while True:
        flags, cursor = [], None
        while True:
            query = "?status=all&limit=100" + (f"&cursor={cursor}" if cursor else "")
            async with session.get(base + "/api/v1/admin/flags" + query, headers=headers) as r:
                data = (await r.json())["data"]
            flags += data["flags"]
            cursor = data["next_cursor"]
            if cursor is None:
                break
        if cheaters <= {f["user_id"] for f in flags} or time.monotonic() > deadline:
            return flags
        await asyncio.sleep(1)  # the detectors' next pass


def summarize(players: list[Player], flags: list[dict[str, Any]],
              args: argparse.Namespace, started: float) -> dict[str, Any]:
    by_uid = {p.uid: p for p in players}
    honest = [p for p in players if p.kind == "honest"]
    flagged_honest = {f["user_id"] for f in flags if by_uid[f["user_id"]].kind == "honest"}
    out: dict[str, Any] = {"honest": len(honest),
                           "honest_flagged": len(flagged_honest),
                           "fp_rate": len(flagged_honest) / max(1, len(honest)),
                           "detectors": {}}
    print(f"\n== detection: {len(honest)} honest players, {args.cheaters} cheaters of each "
          f"kind, {args.minutes} game minutes at {args.speed}x ==")
    print(f"{'detector':<10} {'recall':>7} {'honest flagged':>15} {'to flag p50':>12} "
          f"{'max':>8} {'from evidence':>14}")
    for kind in KINDS:
        cheaters = [p for p in players if p.kind == kind]
        caught = sum(1 for p in cheaters
                     if any(f["user_id"] == p.uid and f["detector"] == kind for f in flags))
        honest_here = len({f["user_id"] for f in flags if f["detector"] == kind
                           and by_uid[f["user_id"]].kind == "honest"})
        recall = caught / max(1, len(cheaters))
        lag = [d for d in (flag_lag(flags, p, kind) for p in cheaters) if d is not None]
        p50 = statistics.median(lag) if lag else float("nan")
        worst = max(lag) if lag else float("nan")
        late = [d for d in (evidence_lag(flags, p, kind, started, args) for p in cheaters)
                if d is not None]
        late_max = max(late) if late else float("nan")
        out["detectors"][kind] = {"recall": recall, "honest_flagged": honest_here,
                                  "to_flag_p50_s": p50, "to_flag_max_s": worst,
                                  "from_evidence_max_s": late_max}
        print(f"{kind:<10} {recall:>7.2f} {honest_here:>15} {p50:>11.1f}s {worst:>7.1f}s "
              f"{late_max:>13.1f}s")
    for kind in KINDS:
        seen = [f["value"] for f in flags
                if f["detector"] == kind and by_uid[f["user_id"]].kind == kind]
        if seen:
            print(f"  {kind}: the caught cheaters' values {min(seen):.3g} to "
                  f"{max(seen):.3g}")
    for f in flags:
        if by_uid[f["user_id"]].kind == "honest":
            print(f"  honest flagged by {f['detector']}: value {f['value']:.3g}, "
                  f"evidence {json.dumps(f['evidence'])[:300]}")
    print(f"honest players flagged by any detector: {len(flagged_honest)} of {len(honest)} "
          f"({out['fp_rate']:.2%}; goal <= 0.5%); recall goal >= 0.95; flagged within 60 s "
          "of the evidence existing")
    return out


def evidence_lag(flags: list[dict[str, Any]], p: Player, kind: str, started: float,
                 args: argparse.Namespace) -> float | None:
    """Real seconds from the evidence existing to the flag: the event that completed it
    (``evidence.last_event``); for rate, the first cheating event or the board's first
    window of play, whichever is later (the board is not judged before)."""
    from datetime import datetime

    mine = [f for f in flags if f["user_id"] == p.uid and f["detector"] == kind]
    if not mine or p.first_cheat is None:
        return None
    flag = min(mine, key=lambda f: f["created_at"])
    created = datetime.fromisoformat(flag["created_at"]).timestamp()
    last = flag["evidence"].get("last_event")
    if last:
        return created - int(last.split("-")[0]) / 1000
    window = Config().flag_rate_window_s / args.speed
    wall = time.time() - time.monotonic()
    return created - (wall + max(p.first_cheat, started + window))


def flag_lag(flags: list[dict[str, Any]], p: Player, kind: str) -> float | None:
    """Real seconds from the player's first cheating event to their flag."""
    from datetime import datetime

    mine = [f for f in flags if f["user_id"] == p.uid and f["detector"] == kind]
    if not mine or p.first_cheat is None:
        return None
    created = min(datetime.fromisoformat(f["created_at"]).timestamp() for f in mine)
    # first_cheat is monotonic: place it on the wall clock
    return created - (time.time() - (time.monotonic() - p.first_cheat))


@contextlib.contextmanager
def second_redis(root: Path) -> Iterator[str]:
    server = RedisServer(root / "redis-b")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--honest", type=int, default=400)
    ap.add_argument("--cheaters", type=int, default=10, help="of each kind")
    ap.add_argument("--minutes", type=float, default=60, help="game minutes played")
    ap.add_argument("--speed", type=float, default=30, help="game seconds per real second")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--skip-cost", action="store_true", help="part 1 only")
    ap.add_argument("--skip-detection", action="store_true", help="part 2 only")
    args = ap.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps(ACTIONS))
        admin = asyncio.run(admin_token(redis_url, db_url))
        env = {"ACTIONS_FILE": str(actions), "DETECT_INTERVAL_S": "1",
               "FLAG_RATE_WINDOW_S": str(Config().flag_rate_window_s / args.speed),
               "PERSIST_INTERVAL_S": "0.5"}
        if not args.skip_detection:
            with service(redis_url, db_url, **env) as url:
                results["detection"] = asyncio.run(detection(url, admin, redis_url, args))
        if not args.skip_cost:
            results["cost"] = cost(redis_url, db_url, Path(tmp), actions, args)
    out = Path(__file__).resolve().parent / "results" / "flags.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


async def admin_token(redis_url: str, db_url: str) -> str:
    from redis.asyncio import Redis

    from bench.common import SECRET
    from scoreboard.auth.tokens import mint
    from scoreboard.persist.migrations import migrate
    from scoreboard.persist.pool import create_pool
    from scoreboard.players import users
    from scoreboard.settings import Config

    pool = await create_pool(db_url)
    redis = Redis.from_url(redis_url)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        user = await users.create(pool, redis, f"bench_admin_{random.randrange(10**6)}",
                                  f"admin{random.randrange(10**6)}@x.io", None)
        return mint(Config(jwt_secret=SECRET), user["id"], admin=True)
    finally:
        await redis.aclose()
        await pool.close()


def cost(redis_url: str, db_url: str, root: Path, actions: Path,
         args: argparse.Namespace) -> dict[str, float]:
    """Updates with the detectors running against the same without them."""
    tokens = asyncio.run(make_players(redis_url, db_url, 1000))
    script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
    with second_redis(root) as other_url:
        def settle(done: str) -> None:
            if done == "update, detectors on":
                persisted(redis_url)
            elif done == "update, detectors off":
                persisted(other_url)

        base = {"ACTIONS_FILE": str(actions), "PERSIST_INTERVAL_S": "0.5"}
        with hello_world() as hello, \
                service(redis_url, db_url, DETECT_INTERVAL_S="1", **base) as on, \
                service(other_url, db_url, DETECT_INTERVAL_S="0", **base) as off:
            runs = interleaved((("hello world", hello + "/", HELLO_SCRIPT),
                                ("update, detectors on", on + "/", script),
                                ("update, detectors off", off + "/", script)),
                               settle=settle, rounds=args.rounds, seconds=args.seconds,
                               connections=args.connections)
    ratios = {"update with detectors / without": print_ratio(
        "update with detectors / without",
        round_ratios(runs, "update, detectors on", "update, detectors off"), ">= 0.95")}
    report("flags_cost", medians(runs), "hello world", ratios)
    return ratios


if __name__ == "__main__":
    main()
