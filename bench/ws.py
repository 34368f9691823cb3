"""Many WebSocket clients on one process: update-to-last-client latency and memory.

    python -m bench.ws [--sockets 10000] [--updates 100]

Baseline, same run and same clients: a plain aiohttp hub (a set of sockets and
``await send_str`` in a loop, no queues, no coalescing) told to broadcast over
HTTP. For each update the clock starts when the POST is sent and stops when the
last socket has received a frame; p50/p99 are over the updates. Memory per idle
socket is the server's RSS growth over the connected sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import backing_servers, http_ok, service
from scoreboard.testing.servers import free_port, wait_until

PLAIN_HUB = """
import asyncio, uvloop
from aiohttp import web
socks = set()
async def ws(request):
    w = web.WebSocketResponse(); await w.prepare(request); socks.add(w)
    try:
        async for _ in w: pass
    finally:
        socks.discard(w)
    return w
async def broadcast(request):
    body = await request.text()
    for w in list(socks):
        await w.send_str(body)
    return web.Response(text="ok")
async def health(request):
    return web.Response(text="ok")
app = web.Application()
app.router.add_get("/ws", ws); app.router.add_post("/broadcast", broadcast)
app.router.add_get("/readyz", health)
web.run_app(app, host="127.0.0.1", port={port}, access_log=None, print=None,
            loop=uvloop.new_event_loop())
"""

CLIENT = r"""
import asyncio, base64, json, os, sys, time, uvloop
host, port, path, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
arrivals = {}
mark = [None]
connected = [0]

class P(asyncio.Protocol):
    # a bare WebSocket client: notes when a text frame arrives, answers pings
    def __init__(self, i): self.i = i; self.open = False; self.buf = b""
    def connection_made(self, t):
        self.t = t
        key = base64.b64encode(os.urandom(16)).decode()
        t.write((f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    def data_received(self, data):
        if self.open and not self.buf and data[0] == 0x81 and len(data) >= 4 and (
                data[1] == 126 and len(data) == 4 + int.from_bytes(data[2:4], "big")):
            # the usual case, a whole text frame of 126 to 65535 bytes: no parsing
            if mark[0] is not None and self.i not in arrivals:
                arrivals[self.i] = time.monotonic()
            return
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.open = b" 101 " in self.buf[:20]; connected[0] += 1
            self.buf = self.buf[end + 4:]
        while len(self.buf) >= 2:
            op, ln = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            at = 2
            if ln == 126:
                if len(self.buf) < 4: return
                ln, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif ln == 127:
                if len(self.buf) < 10: return
                ln, at = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < at + ln:
                return
            payload, self.buf = self.buf[at:at + ln], self.buf[at + ln:]
            if op == 0x9:  # ping: answer with a masked pong
                self.t.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif op == 0x1 and mark[0] is not None and self.i not in arrivals:
                arrivals[self.i] = time.monotonic()

async def main():
    loop = asyncio.get_running_loop()
    for i in range(n):
        await loop.create_connection(lambda i=i: P(i), host, port)
    while connected[0] < n:
        await asyncio.sleep(0.05)
    print("connected", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"mark":
            arrivals.clear(); mark[0] = time.monotonic()
            print("marked", flush=True)
        elif line.strip() == b"report":
            deadline = time.monotonic() + 5
            while len(arrivals) < n and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            print(json.dumps({"got": len(arrivals), "last": max(arrivals.values(), default=0)}),
                  flush=True)
uvloop.run(main())
"""


class Clients:
    def __init__(self, port: int, path: str, n: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLIENT, "127.0.0.1", str(port), path, str(n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        line = self.proc.stdout.readline()
        if line.strip() != "connected":
            raise SystemExit(f"clients failed to connect: {line!r}")

    def ask(self, cmd: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(clients: Clients, trigger, updates: int, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    """One latency per update that reached every socket (the others are reported)."""
    latencies = []
    for i in range(updates):
        clients.ask("mark")
        t0 = time.monotonic()
        trigger(i)
        report = json.loads(clients.ask("report"))
        if report["got"] < n:
            print(f"  update {i}: only {report['got']} of {n} sockets heard it")
            continue
        latencies.append((report["last"] - t0) * 1000)
        time.sleep(0.3)  # let the coalescing window pass between updates
    return latencies


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss) / 2**20


async def _players(redis_url: str, db_url: str, n: int) -> list[str]:
    from bench.updates import make_players

    return await make_players(redis_url, db_url, n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sockets", type=int, default=10_000)
    ap.add_argument("--updates", type=int, default=100)
    args = ap.parse_args()
    n = args.sockets
    results: dict[str, dict[str, float]] = {}

    port = free_port()
    plain = subprocess.Popen([sys.executable, "-c", PLAIN_HUB.replace("{port}", str(port))])
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), what="plain hub")
        before = rss_mb(plain.pid)
        clients = Clients(port, "/ws", n)
        after = rss_mb(plain.pid)
        msg = json.dumps({"type": "leaderboard_update", "data": {"leaderboard": [
            {"rank": r, "user_id": "0" * 36, "username": "player", "score": 1000 - r,
             "avatar_url": None} for r in range(1, 11)]}})

        def plain_trigger(i: int) -> None:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/broadcast",
                                         data=msg.encode(), method="POST")
            urllib.request.urlopen(req, timeout=30).read()

        print("plain hub: measuring", flush=True)
        lat = measure(clients, plain_trigger, args.updates, n)
        results["plain hub"] = _row(lat, (after - before) * 2**20 / n)
        clients.close()
    finally:
        plain.terminate()
        plain.wait(10)

    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        # ten players: each update moves one of them, all in the top 10, so every update
        # changes the top 10 and is pushed (with more, a climb to 11th would push nothing)
        tokens = asyncio.run(_players(redis_url, db_url, 10))
        env = {"ACTIONS_FILE": str(actions), "WS_MAX_PER_USER": str(n),
               "CACHE_REFRESH_INTERVAL_S": "30",
               "HTTP_MAX_CONNECTIONS": str(n + 100)}  # the sockets, and room for the POSTs
        with service(redis_url, db_url, **env) as url:
            sport = int(url.rsplit(":", 1)[1])
            pid = _pid_on(sport)
            before = rss_mb(pid)
            clients = Clients(sport, f"/ws/leaderboard?token={tokens[0]}", n)
            after = rss_mb(pid)
            session_headers = [{"Authorization": f"Bearer {t}"} for t in tokens]

            def trigger(i: int) -> None:
                body = json.dumps({"action_type": "bench", "score_increment": 1000}).encode()
                req = urllib.request.Request(
                    f"{url}/api/v1/scores/update", data=body, method="POST",
                    headers={**session_headers[i % len(tokens)],
                             "Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=30).read()

            print("scoreboard hub: measuring", flush=True)
            lat = measure(clients, trigger, args.updates, n)
            results["scoreboard hub"] = _row(lat, (after - before) * 2**20 / n)
            clients.close()

    print(f"\n== ws ({n} sockets on one process, {args.updates} updates each) ==")
    base = results["plain hub"]
    for name, r in results.items():
        print(f"{name:<16} {int(r['samples'])} of {args.updates} updates heard by all  "
              f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
              f"({r['p99_ms'] / base['p99_ms']:.2f}x plain)  "
              f"{r['bytes_per_socket'] / 1024:.1f} KiB per idle socket")
    print("updates are 300 ms apart: each leaves on the leading edge of its coalescing window.")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "ws.json").write_text(json.dumps(results, indent=1))


def _row(lat: list[float], per_socket: float) -> dict[str, float]:
    if not lat:
        raise SystemExit("no update reached every socket")
    return {"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "bytes_per_socket": per_socket, "samples": len(lat)}


def _pid_on(port: int) -> int:
    import psutil

    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
            return int(conn.pid)
    raise SystemExit(f"no process listens on {port}")


if __name__ == "__main__":
    main()
