"""What the benchmarks share: servers, the service in a subprocess, wrk, and a baseline.

Every benchmark measures an aiohttp hello world in the same run, on the same
machine, with the same load tool, and prints ratios against it: the machines
are shared and noisy, so an absolute rate means little.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from scoreboard.testing.servers import PostgresServer, RedisServer, free_port, wait_until

ROOT = Path(__file__).resolve().parent.parent

SECRET = "bench-secret-" + "b" * 60

_TOKENS_SCRIPT = """
tokens = {%s}
i = 0
request = function()
  i = i + 1
  local t = tokens[(i %% #tokens) + 1]
  return wrk.format(%s, %s, {["Authorization"] = "Bearer " .. t,
    ["Content-Type"] = "application/json"}, %s)
end
"""
UPDATE_BODY = '{"action_type": "bench", "score_increment": 1}'


_PAIRS_SCRIPT = """
auths = {%s}
bodies = {%s}
i = 0
request = function()
  i = i + 1
  return wrk.format("POST", %s, {["Authorization"] = "Bearer " .. auths[(i %% #auths) + 1],
    ["Content-Type"] = "application/json"}, bodies[(i %% #bodies) + 1])
end
"""


def posts_script(auths: list[str], bodies: list[str], path: str) -> str:
    """A wrk script POSTing the next body with the next credential, each round robin."""
    return _PAIRS_SCRIPT % (", ".join(json.dumps(a) for a in auths),
                            ", ".join(json.dumps(b) for b in bodies), json.dumps(path))


def token_script(tokens: list[str], method: str, path: str, body: str | None = None) -> str:
    """A wrk script sending each request with the next player's token, round robin."""
    return _TOKENS_SCRIPT % (", ".join(json.dumps(t) for t in tokens), json.dumps(method),
                             json.dumps(path), "nil" if body is None else json.dumps(body))

# the baseline the goals are stated against: aiohttp + uvloop answering a 40-byte JSON body
HELLO_BODY = b'{"message":"Hello, World","status":"ok"}'
HELLO = """
import uvloop
from aiohttp import web

BODY = """ + repr(HELLO_BODY) + """

async def hello(request):
    return web.Response(body=BODY, content_type="application/json")

app = web.Application()
app.router.add_get("/", hello)
app.router.add_post("/", hello)
web.run_app(app, host="127.0.0.1", port={port}, access_log=None, print=None,
            loop=uvloop.new_event_loop())
"""


def ensure_tool(name: str) -> str:
    """The path of the Debian-packaged tool ``name``, installed first if missing (as
    root, where apt-get is)."""
    found = shutil.which(name)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(f"apt-get update -qq && apt-get install -y -qq {name}", shell=True,
                       check=True, stdout=subprocess.DEVNULL)
        found = shutil.which(name)
    if not found:
        raise SystemExit(f"{name} is needed: apt-get install {name}")
    return found


def ensure_wrk() -> str:
    return ensure_tool("wrk")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def served(args: list[str], port: int, ready: str, what: str) -> Iterator[str]:
    """A baseline server (``python`` + ``args``) on ``port``, once ``ready`` answers."""
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}{ready}"), what=what)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def hello_world() -> Iterator[str]:
    port = free_port()
    with served(["-c", HELLO.replace("{port}", str(port))], port, "/", "hello world") as url:
        yield url


@contextlib.contextmanager
def backing_servers() -> Iterator[tuple[str, str]]:
    """A real Redis and PostgreSQL (or REDIS_URL / DATABASE_URL)."""
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        redis = pg = None
        try:
            if os.environ.get("REDIS_URL"):
                redis_url = os.environ["REDIS_URL"]
            else:
                redis = RedisServer(root / "redis")
                redis.start()
                redis_url = redis.url
            if os.environ.get("DATABASE_URL"):
                db_url = os.environ["DATABASE_URL"]
            else:
                pg = PostgresServer(root / "pg")
                pg.init()
                pg.start()
                db_url = pg.url
            yield redis_url, db_url
        finally:
            if pg is not None:
                pg.stop("immediate")
            if redis is not None:
                redis.stop()


@contextlib.contextmanager
def service(redis_url: str, db_url: str, **env: str) -> Iterator[str]:
    """``scoreboard serve`` in a subprocess, one process, on a free port."""
    port = free_port()
    full_env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": db_url,
                "JWT_SECRET": SECRET, **env}  # as shipped: the default log level too
    proc = subprocess.Popen([sys.executable, "-m", "scoreboard", "serve", "--port", str(port)],
                            env=full_env, cwd=ROOT)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), timeout=60,
                   what="scoreboard serve")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def wrk(url: str, *, seconds: int = 8, connections: int = 50, script: str | None = None,
        threads: int = 1) -> dict[str, float]:
    """Requests per second and latency percentiles of one wrk run."""
    cmd = [ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script or "")
        path = f.name
    if script:
        cmd += ["-s", path]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    os.unlink(path)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result = {"rps": rps, "non2xx": float(non2xx.group(1)) if non2xx else 0.0}
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        out)
    if sockets:
        result["socket_errors"] = float(sum(int(n) for n in sockets.groups()))
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            result[f"p{pct}_ms"] = float(m.group(1)) * scale
    return result


Measure = tuple[str, str, str | None]  # label, URL, wrk script


def interleaved(measures: Sequence[Measure], *, rounds: int, seconds: int, connections: int,
                settle: Callable[[str], None] | None = None,
                ) -> dict[str, list[dict[str, float]]]:
    """Runs every measure once per round, back to back, the order turning and reversing
    from round to round (AB BA BA AB for two): a shared machine drifts over a minute,
    and this way each measure and its baseline meet the same drift. ``settle(label)``,
    after each run, waits for what that run left behind. Returns every run of each
    label, in round order."""
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in measures}
    n = len(measures)
    for i in range(rounds):
        order = list(measures[i % n:]) + list(measures[:i % n])
        if (i // n) % 2:
            order.reverse()
        for label, url, script in order:
            runs[label].append(wrk(url, seconds=seconds, connections=connections,
                                   script=script))
            if settle is not None:
                settle(label)
    return runs


def round_ratios(runs: dict[str, list[dict[str, float]]], measure: str,
                 baseline: str) -> list[float]:
    """Each round's rate of ``measure`` over ``baseline``'s, taken minutes apart at most."""
    return [m["rps"] / b["rps"] for m, b in zip(runs[measure], runs[baseline], strict=True)]


def medians(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {label: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
            for label, rs in runs.items()}


def print_ratio(what: str, ratios: list[float], goal: str) -> float:
    """The median of the rounds' ratios, with every round's beside it."""
    spread = ", ".join(f"{r:.2f}" for r in ratios)
    median = statistics.median(ratios)
    print(f"{what:<32} median {median:.3f} (goal {goal}; rounds: {spread})")
    return median


def report(name: str, rows: dict[str, dict[str, float]], baseline: str,
           ratios: dict[str, float] | None = None) -> None:
    """Prints the rows against ``baseline`` and writes them to bench/results/<name>.json,
    with ``ratios`` (each the median of paired rounds' ratios) when given."""
    base = rows[baseline]["rps"]
    print(f"\n== {name} ==")
    for label, r in rows.items():
        extra = f"  non-2xx {int(r['non2xx'])}" if r.get("non2xx") else ""
        lat = f"  p50 {r.get('p50_ms', 0):.2f} ms  p99 {r.get('p99_ms', 0):.2f} ms"
        print(f"{label:<28} {r['rps']:>10.0f} req/s  {r['rps'] / base:6.1%} of {baseline}"
              f"{lat}{extra}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    saved = {"rows": rows, "ratios": ratios or {}, "at": time.time()}
    (out / f"{name}.json").write_text(json.dumps(saved, indent=1))


@contextlib.asynccontextmanager
async def board_admin(redis_url: str, db_url: str,
                      actions_file: Path) -> AsyncIterator[tuple[Any, Any, Any]]:
    """A migrated database, the board definitions in Redis and a ``BoardAdmin`` over
    them (the pool, the Redis client and the admin), closed at the end."""
    from redis.asyncio import Redis

    from scoreboard.actions import load_actions
    from scoreboard.board.admin import BoardAdmin
    from scoreboard.board.registry import Boards
    from scoreboard.persist.migrations import migrate
    from scoreboard.persist.pool import create_pool

    pool = await create_pool(db_url)
    redis = Redis.from_url(redis_url)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        boards = Boards(redis, pool)
        await boards.ensure()
        await boards.load()
        yield pool, redis, BoardAdmin(pool, redis, boards, load_actions(actions_file))
    finally:
        await redis.aclose()
        await pool.close()
