"""Instructions per request, counted by Valgrind's callgrind: a figure the shared
machine's noise does not move (wrk's rates here swing by a third from one 2 s round
to the next, and a few percent is what a change to the request path is worth).

    python -m bench.instructions [--requests 2000]

The service's app (built as ``scoreboard serve`` builds it) and the hello world
baseline run in one process, each behind aiohttp's own protocol, fed the raw bytes
of GET requests through an in-memory transport: no kernel, no wrk, no other process
on the clock. Callgrind counts only while it is switched on, around ``N`` and then
``2N`` requests of each kind; the difference over ``N`` is the cost of one request
with the switching left out. Kinds: hello world, the seed's top 10, a board's top
10 (a board fed by the same action as `global` and one other; live when the
process started, so read through a path of its own, api/routing.py), the same
board read through the template's route (as a board created after the process
started is, by a second app built without those paths), and both top 10s with the
layer in front of every handler taken off (what that layer costs).

What this does not count: the kernel's and the load tool's share of a request (the
same calls for every kind, and about a third of the CPU under wrk), and cache
misses, which make some instructions dearer than others. The service's
once-a-second tasks (the metrics' flush, the Pub/Sub listener's poll, the sockets'
heartbeat) are held off while it counts: landing in the windows, they moved a
kind's count by about 1k from run to run; without them runs repeat to about 0.2%.
It ranks and sizes changes to the request path; the rate goals are still measured
by bench.all.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import (
    HELLO_BODY,
    ROOT,
    SECRET,
    backing_servers,
    ensure_tool,
    service,
    wait_until,
)

KINDS = {  # name: (app, path, layer on)
    "hello world": ("hello", "/", True),
    "GET top10": ("service", "/api/v1/leaderboard/top10", True),
    "board top10": ("service", "/api/v1/boards/b1/top10", True),
    # b1 as a board created after the process started is read: through the template's
    # route, without a path of its own (api/routing.py)
    "board top10, template": ("late", "/api/v1/boards/b1/top10", True),
    "GET top10, no layer": ("service", "/api/v1/leaderboard/top10", False),
    "board top10, no layer": ("service", "/api/v1/boards/b1/top10", False),
}


class Transport(asyncio.Transport):
    """A connection that takes whatever is written and wakes the one waiting for it."""

    def __init__(self) -> None:
        super().__init__()
        self.written: asyncio.Future[None] | None = None
        self.closing = False

    def write(self, data: Any) -> None:
        if self.written is not None and not self.written.done():
            self.written.set_result(None)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


async def _requests(server: Any, path: str, n: int) -> None:
    """``n`` GETs of ``path`` on one keep-alive connection, one at a time."""
    protocol = server()
    transport = Transport()
    protocol.connection_made(transport)
    raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    for _ in range(n):
        transport.written = loop.create_future()
        protocol.data_received(raw)
        await transport.written
    protocol.connection_lost(None)


def _callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True,
                   capture_output=True)


async def _counted(requests: int) -> None:
    """Runs under callgrind: each kind's windows of N and 2N requests, one dump each."""
    from aiohttp import web

    from scoreboard.api import routing
    from scoreboard.app import create_app
    from scoreboard.cli.guard import GuardedRunner
    from scoreboard.live import listener
    from scoreboard.obs import logs, metrics
    from scoreboard.settings import from_env

    # without the periodic jobs and the once-a-second tasks (the metrics' flush, the
    # Pub/Sub listener's poll; the heartbeat's is set by the caller): under callgrind
    # a window lasts seconds, and a run inside one would count as the requests' cost
    metrics.FLUSH_S = listener.POLL_S = 3600.0

    def runner_of(app: web.Application) -> GuardedRunner:
        return GuardedRunner(app, max_connections=1000, read_timeout_s=30,
                             handle_signals=False, access_log_class=logs.AccessLogger,
                             auto_decompress=False)

    app = create_app(from_env(), scheduler=False)
    runner = runner_of(app)
    await runner.setup()
    late_app = create_app(from_env(), scheduler=False)
    routing.MAX_BOARDS = 0  # as if every board had been created after it started
    late = runner_of(late_app)
    await late.setup()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=HELLO_BODY, content_type="application/json")

    hello_app = web.Application()
    hello_app.router.add_get("/", hello)
    hello_runner = web.AppRunner(hello_app, access_log=None)
    await hello_runner.setup()
    # the layer's wrapper keeps the handler it wraps (functools.wraps); a route's handler
    # has no public setter, so the bench swaps it on aiohttp's route object
    top10s = (KINDS["GET top10"][1], "/api/v1/boards/{board}/top10", KINDS["board top10"][1])
    routes = [route for resource in app.router.resources() for route in resource
              if resource.canonical in top10s]
    served = {route: route.handler for route in routes}
    try:
        for name, (which, path, layer) in KINDS.items():
            for route in routes:
                route._handler = (  # type: ignore[attr-defined]
                    served[route] if layer else served[route].__wrapped__)  # type: ignore[attr-defined]
            server = {"hello": hello_runner, "service": runner, "late": late}[which].server
            await _requests(server, path, 300)  # warm: memo filled, caches and code hot
            for n in (requests, 2 * requests):
                gc.collect()  # a full collection lands in no window by chance
                gc.freeze()
                _callgrind("--zero")
                _callgrind("--instr=on")
                await _requests(server, path, n)
                _callgrind("--instr=off")
                _callgrind(f"--dump={name} @{n}")
    finally:
        for route in routes:
            route._handler = served[route]  # type: ignore[attr-defined]
        await runner.cleanup()
        await late.cleanup()
        await hello_runner.cleanup()


def _fill(url: str, tokens: list[str]) -> None:
    """A few scores on `global`, b1 and b2 through the service, so each top 10 has rows."""
    body = json.dumps({"action_type": "triple", "score_increment": 3}).encode()
    for token in tokens:
        req = urllib.request.Request(url + "/api/v1/scores/update", data=body, method="POST",
                                     headers={"Authorization": "Bearer " + token,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    # the hub stores each board's top 10 in its Redis cache as it pushes it: wait until
    # the seed's and b1's both list every player (else the seed's cache can hold an
    # early, shorter list, and the two kinds would answer bodies of different sizes)
    rows = min(len(tokens), 10)
    wait_until(lambda: all(len(_top10(url + path)) == rows for path in
                           (KINDS["GET top10"][1], KINDS["board top10"][1])),
               what="both top 10s filled")


def _top10(url: str) -> list[Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.load(resp)["data"]["leaderboard"])


def _per_request(out_dir: Path, requests: int) -> dict[str, float]:
    """Each kind's instructions per request: (window of 2N - window of N) / N."""
    windows: dict[str, dict[int, int]] = {}
    for dump in out_dir.glob("callgrind.out.*"):
        text = dump.read_text(errors="replace")
        trigger = re.search(r"^desc: Trigger: .*?dump (.+) @(\d+)$", text, re.M)
        totals = re.search(r"^totals: (\d+)", text, re.M)
        if trigger is None or totals is None:
            continue
        windows.setdefault(trigger[1], {})[int(trigger[2])] = int(totals[1])
    return {name: (windows[name][2 * requests] - windows[name][requests]) / requests
            for name in KINDS}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.counted:  # the process callgrind runs
        import uvloop

        uvloop.run(_counted(args.requests))
        return
    valgrind = ensure_tool("valgrind")
    from bench.boards import ACTIONS, make_boards
    from bench.updates import make_players

    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps(ACTIONS))
        tokens = asyncio.run(make_players(redis_url, db_url, 20))
        asyncio.run(make_boards(redis_url, db_url, actions))
        env = {"ACTIONS_FILE": str(actions), "PERSIST_INTERVAL_S": "3600"}
        with service(redis_url, db_url, **env) as url:
            _fill(url, tokens)
        out = Path(tmp) / "cg"
        out.mkdir()
        full_env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": db_url,
                    "JWT_SECRET": SECRET, "LOG_LEVEL": "WARNING", **env,
                    "CACHE_REFRESH_INTERVAL_S": "3600",  # the memo stays: no Redis read
                    "WS_HEARTBEAT_S": "72000"}  # its slices an hour apart
        cmd = [valgrind, "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={out}/callgrind.out", sys.executable,
               "-m", "bench.instructions", "--counted", "--requests", str(args.requests)]
        done = subprocess.run(cmd, env=full_env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"the counted run failed ({done.returncode})")
        per = _per_request(out, args.requests)
    _report(per)


def _report(per: dict[str, float]) -> None:
    hello = per["hello world"]
    print("\n== instructions per request (callgrind) ==")
    for name, ir in per.items():
        print(f"{name:<24} {ir:>9.0f}   hello world / this {hello / ir:5.3f}")
    ratios = {
        "hello world / GET top10": hello / per["GET top10"],
        "GET top10 / board top10": per["GET top10"] / per["board top10"],
        "GET top10 / board top10, template": per["GET top10"] / per["board top10, template"],
        "layer share of GET top10": 1 - per["GET top10, no layer"] / per["GET top10"],
        "layer share of board top10": 1 - per["board top10, no layer"] / per["board top10"],
    }
    for what, value in ratios.items():
        print(f"{what:<28} {value:.3f}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "instructions.json").write_text(json.dumps(
        {"per_request": per, "ratios": ratios}, indent=1))


if __name__ == "__main__":
    main()
