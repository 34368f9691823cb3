"""Where `update.lua`'s Redis time goes, part by part.

    python -m bench.script_cost [--players 1000] [--seconds 3]

Serves the service (detectors off) under wrk, records real merged `update.lua` calls
with MONITOR, then replays them on a fresh Redis of its own, pipelined, and prints
Redis's CPU per update for the script cut short at each stage (the stages are the
same script with a `return` inserted), and how much of the whole is the inner
commands' own time (INFO commandstats):

    KEYS/ARGV only    the call's transport and the KEYS/ARGV tables Redis builds
    + parse           per_update: the updates' and boards' tables
    + admit           the player, Idempotency-Key, gates, ceiling and rate checks
    + apply           the boards' scores, ranks and pushes
    whole             + the event's XADD and the reply

Each figure is the fastest of five passes over the recorded calls. The replayed
updates count again on the same players (the state moves on as in a live run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import redis

from bench.common import UPDATE_BODY, backing_servers, service, token_script, wrk
from bench.updates import make_writers
from scoreboard.store.scripts import LUA_DIR
from scoreboard.testing.servers import RedisServer

CALLS = 30  # merged calls recorded
PASSES, REPEAT = 5, 40  # passes (the fastest counts), replays of the calls per pass


def record(players: int, seconds: int) -> list[tuple[list[str], list[str]]]:
    """(KEYS, ARGV) of real update.lua calls of several updates each."""
    found: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        _, tokens, _ = asyncio.run(make_writers(redis_url, db_url, players))
        script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
        with service(redis_url, db_url, ACTIONS_FILE=str(actions),
                     DETECT_INTERVAL_S="0") as url:
            client = redis.Redis.from_url(redis_url)

            def monitor() -> None:
                with client.monitor() as m:
                    for command in m.listen():
                        text = str(command["command"])
                        # a merged call: many updates (the bench's bodies have no spaces)
                        if text.startswith("EVALSHA") and text.count("{lb}:scores") > 4:
                            found.append(text)
                        if len(found) >= CALLS:
                            return

            watcher = threading.Thread(target=monitor, daemon=True)
            watcher.start()
            wrk(url + "/", seconds=seconds, connections=50, script=script)
            watcher.join(10)
    calls = []
    for text in found[:CALLS]:
        parts = text.split(" ")  # MONITOR shows an empty argument as nothing between spaces
        n = int(parts[2])
        calls.append((parts[3:3 + n], parts[3 + n:]))
    if not calls:
        raise SystemExit("no merged update.lua call was recorded")
    return calls


def stages() -> dict[str, str]:
    """The script's body cut short at each stage."""
    body = (LUA_DIR / "update.lua").read_text()
    cuts = {
        "KEYS/ARGV only": ("local updates = per_update", "do return {} end\n"),
        "+ parse": ("if stale(k_version, version) then", "do return {} end\n"),
        "+ admit": ("  local seq, now_s = redis.call('INCR', k_seq)", "  do return {} end\n"),
        "+ apply": ("  local event = {'u', uid,", "  do return {} end\n"),
    }
    out = {}
    for name, (at, inserted) in cuts.items():
        if at not in body:
            raise SystemExit(f"update.lua changed: {at!r} not found; update bench/script_cost.py")
        out[name] = body.replace(at, inserted + at, 1)
    out["whole"] = body
    return out


def replay(calls: list[tuple[list[str], list[str]]], body: str, root: Path) -> tuple[float, float]:
    """Redis CPU per update (µs) and the inner commands' share of it."""
    server = RedisServer(root)
    server.start()
    client = redis.Redis(port=server.port)
    try:
        uids = {a for _, args in calls for a in args if len(a) == 36 and a.count("-") == 4}
        client.hset("{lb}:profiles", mapping=dict.fromkeys(uids, "{}"))
        client.set("{lb}:boards:version", calls[0][1][4])
        sha = client.script_load((LUA_DIR / "common.lua").read_text() + "\n" + body)
        updates = sum(1 for _, args in calls for a in args if a in uids)

        def cpu() -> float:
            info: Any = client.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        best = float("inf")
        for _ in range(PASSES):
            client.config_resetstat()
            start = cpu()
            pipe = client.pipeline(transaction=False)
            for _ in range(REPEAT):
                for keys, args in calls:
                    pipe.evalsha(sha, len(keys), *keys, *args)
            pipe.execute()
            per = (cpu() - start) / (REPEAT * updates) * 1e6
            if per < best:
                stats: Any = client.info("commandstats")
                inner = sum(v["usec"] for k, v in stats.items() if k != "cmdstat_evalsha")
                best, share = per, inner / (REPEAT * updates) / per
        return best, share
    finally:
        client.close()
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=3)
    args = ap.parse_args()
    calls = record(args.players, args.seconds)
    uids = sum(1 for _, a in calls for x in a if len(x) == 36 and x.count("-") == 4)
    print(f"{len(calls)} update.lua calls recorded, {uids / len(calls):.1f} updates per call")
    with tempfile.TemporaryDirectory() as tmp:
        before = 0.0
        for n, (name, body) in enumerate(stages().items()):
            per, share = replay(calls, body, Path(tmp) / f"r{n}")
            print(f"{name:15s} {per:6.2f} us per update (+{per - before:5.2f}); "
                  f"inner commands {share * per:5.2f} us")
            before = per


if __name__ == "__main__":
    main()
