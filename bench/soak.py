"""A soak: a steady mixed load on one process, as shipped (default settings).

    python -m bench.soak [--seconds 60] [--watchers 1000] [--share 0.8]

Measures the update rate this machine can take first (wrk, a few seconds), then
for ``--seconds`` runs updates at ``--share`` of it, top-10 reads at a tenth of
it, and ``--watchers`` WebSocket clients. Prints errors (goal 0), update p50 and
p99 (goal p99 < 50 ms), the persistence lag when the load stops, whether every
watcher was still being pushed to at the end, and the service's memory from a
warmed-up start to the end (goal: flat).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import (
    UPDATE_BODY,
    backing_servers,
    service,
    token_script,
    wrk,
)
from bench.updates import make_players
from bench.ws import Clients, _pid_on, rss_mb

CONNECTIONS = 50


def paced(script: str, delay_ms: float) -> str:
    """A wrk script in which each connection waits ``delay_ms`` after each answer."""
    return script + f"\nfunction delay() return {max(1, round(delay_ms))} end\n"


def delay_for(rate: float, connections: int, latency_ms: float = 0.0) -> float:
    """Each connection sends one request per (delay + latency): the delay for ``rate``."""
    return connections * 1000 / rate - latency_ms


def lag(url: str) -> tuple[float, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()

    def value(name: str) -> float:
        m = re.search(rf"^{name} ([\d.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else float("nan")

    return (value("scoreboard_persist_events_waiting"),
            value("scoreboard_persist_oldest_age_seconds"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--watchers", type=int, default=1000)
    ap.add_argument("--share", type=float, default=0.8)
    ap.add_argument("--players", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        tokens = asyncio.run(make_players(redis_url, db_url, args.players))
        updates = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
        reads = token_script(tokens[:1], "GET", "/api/v1/leaderboard/top10")
        env = {"ACTIONS_FILE": str(actions), "WS_MAX_PER_USER": str(args.watchers + 10)}
        with service(redis_url, db_url, **env) as url:
            port = int(url.rsplit(":", 1)[1])
            pid = _pid_on(port)
            top = wrk(url + "/", seconds=5, connections=CONNECTIONS, script=updates)["rps"]
            target = top * args.share
            print(f"maximum update rate here: {top:.0f}/s; soaking at {target:.0f}/s "
                  f"with reads at {target / 10:.0f}/s and {args.watchers} watchers", flush=True)
            watchers = Clients(port, f"/ws/leaderboard?token={tokens[0]}", args.watchers)
            # warm up at the naive pace, then correct it by the latency that run showed
            delay = delay_for(target, CONNECTIONS)
            warm = wrk(url + "/", seconds=5, connections=CONNECTIONS,
                       script=paced(updates, delay))["rps"]
            delay = delay_for(target, CONNECTIONS, delay_for(warm, CONNECTIONS) - delay)
            watchers.ask("mark")
            rss = [(0.0, rss_mb(pid))]
            started = time.monotonic()
            with ThreadPoolExecutor(2) as pool:
                upd = pool.submit(wrk, url + "/", seconds=args.seconds, connections=CONNECTIONS,
                                  script=paced(updates, delay))
                rd = pool.submit(wrk, url + "/", seconds=args.seconds, connections=4,
                                 script=paced(reads, delay_for(target / 10, 4)))
                while not upd.done():
                    time.sleep(5)  # a sampling interval
                    rss.append((time.monotonic() - started, rss_mb(pid)))
                u, r = upd.result(), rd.result()
            waiting, oldest = lag(url)
            heard = json.loads(watchers.ask("report"))["got"]
            rss.append((time.monotonic() - started, rss_mb(pid)))
            watchers.close()

    errors = int(u["non2xx"] + u.get("socket_errors", 0) + r["non2xx"]
                 + r.get("socket_errors", 0))
    growth = rss[-1][1] - rss[0][1]
    mid = rss[len(rss) // 2][1]
    rows = {
        "updates/s (target)": f"{u['rps']:.0f} ({target:.0f}, {args.share:.0%} of {top:.0f})",
        "reads/s": f"{r['rps']:.0f}",
        "errors (goal 0)": str(errors),
        "update p50 / p99 ms (goal p99 < 50)": f"{u.get('p50_ms', 0):.1f} / "
                                                f"{u.get('p99_ms', 0):.1f}",
        "persistence lag at the end": f"{waiting:.0f} events, oldest {oldest:.2f} s",
        "watchers pushed to at the end": f"{heard} of {args.watchers}",
        "service memory (MiB)": f"{rss[0][1]:.0f} at start, {mid:.0f} midway, "
                                f"{rss[-1][1]:.0f} at the end ({growth:+.1f})",
    }
    print(f"\n== soak ({args.seconds} s, one process, defaults) ==")
    for label, value in rows.items():
        print(f"{label:<38} {value}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "soak.json").write_text(json.dumps({"rows": rows, "rss": rss, "at": time.time()},
                                              indent=1))


if __name__ == "__main__":
    main()
