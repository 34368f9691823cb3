"""The client libraries' cost: updates per second through each client against the same
requests made raw, in one run.

    python -m bench.clients [--rounds 6] [--seconds 3] [--concurrency 32] [--skip-ts]

Starts a real Redis and PostgreSQL and the service (one process, as shipped). A game
backend's way: one client with a server key, each update naming the next of
``--players`` players. Each round runs, back to back in a turning order: raw aiohttp
client calls (a POST with the key and a fresh Idempotency-Key) and the Python
client's ``AsyncClient.update`` (which also makes a key), ``--concurrency`` requests
in flight, for ``--seconds``; then the same pair in Node: raw ``fetch`` against the
TypeScript client's ``update`` (clients/typescript must be built). Prints each
client's rate over its raw baseline's: the median of the rounds' ratios (goal at
least 0.9 for both).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import uuid
from pathlib import Path

from bench.common import ROOT, backing_servers, report, service
from bench.updates import make_writers, persisted

ACTIONS = {"bench": {"max_increment": 1000, "rate_per_minute": 10**9}}
TS = ROOT / "clients" / "typescript"

NODE_BENCH = r"""
import { ScoreboardClient } from "%(client)s";
const [url, kind, seconds, concurrency, key, ...players] = process.argv.slice(2);
const client = new ScoreboardClient(url, { token: key });
let done = 0, i = 0;
const until = Date.now() + Number(seconds) * 1000;
async function raw(user_id) {
  const body = JSON.stringify({ action_type: "bench", score_increment: 1, user_id });
  const resp = await fetch(url + "/api/v1/scores/update", { method: "POST", body, headers: {
    Authorization: `Bearer ${key}`, "Content-Type": "application/json",
    Accept: "application/json", "Idempotency-Key": crypto.randomUUID().replace(/-/g, "") } });
  const data = await resp.json();
  if (!data.success) throw new Error(JSON.stringify(data));
}
async function worker() {
  while (Date.now() < until) {
    const user = players[i++ %% players.length];
    if (kind === "raw") await raw(user);
    else await client.update("bench", 1, { userId: user });
    done++;
  }
}
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
console.log(JSON.stringify({ rps: done / Number(seconds) }));
"""


async def python_run(url: str, key: str, players: list[str], kind: str, seconds: float,
                     concurrency: int) -> float:
    import aiohttp
    from scoreboard_client import AsyncClient

    client = AsyncClient(url, key) if kind == "client" else None
    session = aiohttp.ClientSession() if kind == "raw" else None
    done = 0
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds

    async def worker(w: int) -> None:
        nonlocal done
        n = w
        while loop.time() < until:
            n = (n + concurrency) % len(players)
            if session is not None:
                body = {"action_type": "bench", "score_increment": 1, "user_id": players[n]}
                async with session.post(url + "/api/v1/scores/update", json=body, headers={
                        "Authorization": f"Bearer {key}", "Accept": "application/json",
                        "Idempotency-Key": uuid.uuid4().hex}) as resp:
                    data = await resp.json()
                    assert data["success"], data
            else:
                assert client is not None
                await client.update("bench", 1, user_id=players[n])
            done += 1

    try:
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    finally:
        if session is not None:
            await session.close()
        if client is not None:
            await client.aclose()
    return done / seconds


def node_run(script: Path, url: str, key: str, players: list[str], kind: str, seconds: float,
             concurrency: int) -> float:
    out = subprocess.run(["node", str(script), url, kind, str(seconds), str(concurrency),
                          key, *players], capture_output=True, text=True, check=True,
                         timeout=300)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rps"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--players", type=int, default=200)
    ap.add_argument("--skip-ts", action="store_true")
    ap.add_argument("--skip-py", action="store_true")
    args = ap.parse_args()
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps(ACTIONS))
        script = Path(tmp) / "bench.mjs"
        script.write_text(NODE_BENCH % {"client": (TS / "dist" / "index.js").as_uri()})
        players, _, key = asyncio.run(make_writers(redis_url, db_url, args.players))
        measures = [] if args.skip_py else [("python raw aiohttp", "py", "raw"),
                                            ("python client", "py", "client")]
        if not args.skip_ts:
            measures += [("node raw fetch", "ts", "raw"), ("typescript client", "ts", "client")]
        with service(redis_url, db_url, ACTIONS_FILE=str(actions)) as url:
            for i in range(args.rounds):
                order = measures if i % 2 == 0 else list(reversed(measures))
                for label, lang, kind in order:
                    if lang == "py":
                        rps = asyncio.run(python_run(url, key, players, kind, args.seconds,
                                                     args.concurrency))
                    else:
                        rps = node_run(script, url, key, players, kind, args.seconds,
                                       args.concurrency)
                    runs.setdefault(label, []).append(rps)
                    persisted(redis_url)
    ratios = {}
    for client, raw in (("python client", "python raw aiohttp"),
                        ("typescript client", "node raw fetch")):
        if client not in runs:
            continue
        each = [c / r for c, r in zip(runs[client], runs[raw], strict=True)]
        ratios[f"{client} / {raw}"] = statistics.median(each)
        print(f"{client} / {raw}: median {statistics.median(each):.3f} (goal >= 0.9; rounds: "
              f"{', '.join(f'{r:.2f}' for r in each)})")
    rows = {label: {"rps": statistics.median(v), "non2xx": 0.0} for label, v in runs.items()}
    report("clients", rows, next(iter(rows)), ratios)


if __name__ == "__main__":
    main()
