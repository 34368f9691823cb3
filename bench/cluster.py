"""Scoreboard on several hosts behind HAProxy, with hosts lost and cut off under load.

    python -m bench.cluster [--runs 1] [--players 12] [--mode batch|direct]

Needs root and network namespaces (``ip netns``); installs Debian's HAProxy and
Redis when missing. Builds, on this machine, hosts that each have their own
addresses, on two networks (a front one for clients and the load balancer, a back
one for the data):

    client   10.77.1.10 / 10.77.2.10  the load, the watchers and the checker
    lb       10.77.1.11               HAProxy, health checks on /readyz
    app1..3  10.77.1.2x / 10.77.2.2x  ``scoreboard serve --workers 2`` each
    db1      10.77.2.31               Redis master, PostgreSQL primary, a Sentinel
    db2      10.77.2.32               Redis replica, PostgreSQL streaming standby, a Sentinel
    witness  10.77.2.33               the third Sentinel

and runs three scenarios, each under the chaos load (scoreboard/testing/chaos.py:
players posting increments retried with their Idempotency-Key, readers, hostile
requests, WebSocket watchers, all through HAProxy), each checked by the chaos
checker (acknowledged = persisted = Redis per player, one event row per
increment, no 500, every watcher ends on the served top 10):

1. ``app host killed``: every process of app1 killed (-9); HAProxy routes around
   it; app1 is started again and rejoins.
2. ``app host cut off``: app2's back link goes down (Redis, PostgreSQL and the
   Sentinels unreachable, HAProxy still reaching it): it answers 503 fast, its
   /readyz fails, HAProxy takes it out, the others carry on; the link comes back
   and it rejoins by itself.
3. ``data host and app host lost``: db1 (Redis master, PostgreSQL primary, a
   Sentinel) and app3 killed (-9) at once; the Sentinels promote the replica, and
   the standby is promoted (``pg_ctl promote``, what an operator's failover tool
   does) once updates have gone on for a while without PostgreSQL.

Prints one line per scenario (the loss table in docs/design.md) and exits 1 when
any guarantee broke. Every wait is bounded; the namespaces and every process in
them are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import redis
from redis.asyncio.sentinel import Sentinel

from bench.common import ROOT, SECRET, ensure_tool, http_ok
from scoreboard.auth.tokens import mint
from scoreboard.persist.migrations import migrate
from scoreboard.players import users
from scoreboard.settings import from_env
from scoreboard.testing.chaos import History, Load, check, settle, stored
from scoreboard.testing.servers import PostgresServer, RedisServer, redis_binary, wait_until

FRONT, BACK = "10.77.1", "10.77.2"
HOSTS: dict[str, tuple[int, tuple[str, ...]]] = {  # host: (address's last byte, networks)
    "client": (10, ("front", "back")),
    "lb": (11, ("front",)),
    "app1": (21, ("front", "back")),
    "app2": (22, ("front", "back")),
    "app3": (23, ("front", "back")),
    "db1": (31, ("back",)),
    "db2": (32, ("back",)),
    "witness": (33, ("back",)),
}
APPS = ("app1", "app2", "app3")
HTTP, REDIS, SENTINEL, PG = 8080, 6379, 26379, 5432
MASTER = "scoreboard"
WORKERS = 2
WAIT_S = 60.0  # the bound on every wait for the cluster to reach a state


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


@dataclass
class Network:
    """Network namespaces as hosts, on two bridges kept in a namespace of their own."""

    tag: str

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def prefix(self, host: str) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.ns(host))

    @staticmethod
    def front(host: str) -> str:
        return f"{FRONT}.{HOSTS[host][0]}"

    @staticmethod
    def back(host: str) -> str:
        return f"{BACK}.{HOSTS[host][0]}"

    def up(self) -> None:
        switch = self.ns("switch")
        ip("netns", "add", switch)
        for net in ("front", "back"):
            ip("-n", switch, "link", "add", net, "type", "bridge")
            ip("-n", switch, "link", "set", net, "up")
        for host, (last, nets) in HOSTS.items():
            ns = self.ns(host)
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            for net in nets:
                port = f"{net[0]}-{host}"
                ip("link", "add", port, "netns", switch, "type", "veth",
                   "peer", "name", net, "netns", ns)
                ip("-n", switch, "link", "set", port, "master", net, "up")
                subnet = FRONT if net == "front" else BACK
                ip("-n", ns, "addr", "add", f"{subnet}.{last}/24", "dev", net)
                ip("-n", ns, "link", "set", net, "up")

    def link(self, host: str, net: str, *, up: bool) -> None:
        """The switch's end of a host's link, down (frames dropped, nothing refused)
        or up again."""
        ip("-n", self.ns("switch"), "link", "set", f"{net[0]}-{host}", "up" if up else "down")

    def pids(self, host: str) -> list[int]:
        found = subprocess.run(["ip", "netns", "pids", self.ns(host)], capture_output=True,
                               text=True, check=False).stdout
        return [int(pid) for pid in found.split()]

    def kill(self, host: str) -> None:
        """Every process of the host, -9, at once."""
        for pid in self.pids(host):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def down(self) -> None:
        for host in [*HOSTS, "switch"]:
            if host != "client":
                self.kill(host)  # the client is this process: it ends by itself
            subprocess.run(["ip", "netns", "delete", self.ns(host)], check=False,
                           stderr=subprocess.DEVNULL)


HAPROXY = """
global
    stats socket {sock} mode 600 level admin
    maxconn 8000
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 15s
    timeout tunnel 1h
    timeout check 2s
    retries 2
    option redispatch
frontend web
    bind {address}:{port}
    # ready hosts first; when none is (PostgreSQL away), any live one: batch mode
    # takes updates without PostgreSQL
    use_backend live if {{ nbsrv(ready) eq 0 }}
    default_backend ready
backend ready
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
{ready}
backend live
    balance roundrobin
    option httpchk GET /healthz
    default-server inter 500ms fall 2 rise 2
{live}
"""


@dataclass
class Balancer:
    """HAProxy on the lb host; its state read from its stats socket."""

    net: Network
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> Path:
        return self.root / "haproxy.sock"

    @property
    def url(self) -> str:
        return f"http://{self.net.front('lb')}:{HTTP}"

    def start(self) -> None:
        servers = "\n".join(f"    server {h} {self.net.front(h)}:{HTTP} check" for h in APPS)
        conf = self.root / "haproxy.cfg"
        conf.write_text(HAPROXY.format(sock=self.sock, address=self.net.front("lb"), port=HTTP,
                                       ready=servers, live=servers))
        log = (self.root / "haproxy.log").open("ab")
        self.proc = subprocess.Popen([*self.net.prefix("lb"), ensure_tool("haproxy"), "-f",
                                      str(conf), "-db"], stdout=log, stderr=log)
        wait_until(lambda: self.sock.exists() and http_ok(self.url + "/readyz"),
                   timeout=WAIT_S, what="HAProxy serving")

    def stats(self) -> dict[tuple[str, str], dict[str, str]]:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.sock))
            s.sendall(b"show stat\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        rows = csv.DictReader(raw.decode().lstrip("# ").splitlines())
        return {(r["pxname"], r["svname"]): r for r in rows if r.get("svname")}

    def status(self, host: str) -> str:
        return self.stats()[("ready", host)]["status"]

    def sessions(self, host: str) -> int:
        return sum(int(self.stats()[(backend, host)]["stot"]) for backend in ("ready", "live"))


@dataclass
class Cluster:
    net: Network
    root: Path
    mode: str
    master: RedisServer | None = None
    replica: RedisServer | None = None
    primary: PostgresServer | None = None
    standby: PostgresServer | None = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    apps: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lb: Balancer | None = None

    @property
    def dsn(self) -> str:
        hosts = ",".join(f"{self.net.back(h)}:{PG}" for h in ("db1", "db2"))
        return f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write"

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [(self.net.back(h), SENTINEL) for h in ("db1", "db2", "witness")]

    def start(self) -> None:
        self._redis()
        self._postgres()
        asyncio.run(self._migrate())
        for host in APPS:
            self.start_app(host)
        for host in APPS:
            self.wait_app(host)
        lb = self.lb = Balancer(self.net, self.root)
        lb.start()
        wait_until(lambda: all(lb.status(h) == "UP" for h in APPS), timeout=WAIT_S,
                   what="HAProxy seeing every app host up")

    def _redis(self) -> None:
        fast = ("--repl-diskless-sync-delay", "0", "--protected-mode", "no")
        master_at = self.net.back("db1")
        self.master = RedisServer(self.root / "redis-db1", port=REDIS, host=master_at,
                                  prefix=self.net.prefix("db1"), args=fast)
        self.master.start()
        self.replica = RedisServer(self.root / "redis-db2", port=REDIS,
                                   host=self.net.back("db2"), prefix=self.net.prefix("db2"),
                                   args=(*fast, "--replicaof", master_at, str(REDIS)))
        self.replica.start()
        replica = redis.Redis(host=self.net.back("db2"), port=REDIS)
        wait_until(lambda: replica.info("replication")["master_link_status"] == "up",
                   timeout=WAIT_S, what="the Redis replica in sync")
        for host in ("db1", "db2", "witness"):
            conf = self.root / f"sentinel-{host}.conf"  # Sentinel rewrites its own
            conf.write_text(
                f"port {SENTINEL}\nbind {self.net.back(host)}\ndir {self.root}\n"
                f"sentinel monitor {MASTER} {master_at} {REDIS} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 5000\n")
            self.procs.append(subprocess.Popen(
                [*self.net.prefix(host), redis_binary(),
                 str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL))

        def formed() -> bool:
            for host, port in self.sentinels:
                with contextlib.suppress(redis.RedisError):
                    state: Any = redis.Redis(host=host, port=port).sentinel_master(MASTER)
                    if state["num-other-sentinels"] == 2 and state["num-slaves"] == 1:
                        continue
                return False
            return True

        wait_until(formed, timeout=WAIT_S, interval=0.1, what="three Sentinels and a replica")

    def _postgres(self) -> None:
        self.primary = PostgresServer(self.root / "pg-db1", port=PG, host=self.net.back("db1"),
                                      prefix=self.net.prefix("db1"), trusted=f"{BACK}.0/24")
        self.primary.init()
        self.primary.start()
        self.standby = self.primary.standby(self.root / "pg-db2", port=PG,
                                            host=self.net.back("db2"),
                                            prefix=self.net.prefix("db2"))

    async def _migrate(self) -> None:
        assert self.primary is not None
        conn = await asyncpg.connect(self.primary.url)
        try:
            await migrate(conn)
        finally:
            await conn.close()

    def start_app(self, host: str) -> None:
        actions = self.root / "actions.json"
        actions.write_text(json.dumps({"tap": {"max_increment": 5, "rate_per_minute": 10**6}}))
        env = {**os.environ, "DATABASE_URL": self.dsn, "JWT_SECRET": SECRET,
               "REDIS_SENTINELS": ",".join(f"{h}:{p}" for h, p in self.sentinels),
               "REDIS_SENTINEL_MASTER": MASTER, "ACTIONS_FILE": str(actions),
               "PERSIST_MODE": self.mode, "LOG_LEVEL": "WARNING",
               "SCOREBOARD_DATA_DIR": str(self.root / host)}
        env.pop("REDIS_URL", None)
        log = (self.root / f"{host}.log").open("ab")
        self.apps[host] = subprocess.Popen(
            [*self.net.prefix(host), sys.executable, "-m", "scoreboard", "serve",
             "--host", self.net.front(host), "--port", str(HTTP), "--workers", str(WORKERS)],
            env=env, stdout=log, stderr=log, cwd=ROOT)

    def wait_app(self, host: str) -> None:
        wait_until(lambda: http_ok(f"{self.app_url(host)}/readyz"), timeout=WAIT_S,
                   what=f"{host} ready")

    def master_address(self) -> tuple[str, int] | None:
        """The master the Sentinels still running name, or None."""
        for host, port in self.sentinels:
            with contextlib.suppress(redis.RedisError):
                found: Any = redis.Redis(host=host, port=port, socket_timeout=1,
                                         decode_responses=True
                                         ).sentinel_get_master_addr_by_name(MASTER)
                return str(found[0]), int(found[1])
        return None

    def app_url(self, host: str) -> str:
        return f"http://{self.net.front(host)}:{HTTP}"

    def kill(self, host: str) -> None:
        self.net.kill(host)
        for proc in [*self.procs, *self.apps.values()]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(0)  # reap what died

    def stop(self) -> None:
        for host in HOSTS:
            if host != "client":
                self.kill(host)
        for proc in [*self.procs, *self.apps.values()]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)


# the scenarios ------------------------------------------------------------------------
async def until(predicate: Callable[[], Any], what: str, within: float = WAIT_S) -> float:
    """Seconds until ``predicate()`` (run in a thread: it may block) is true; bounded."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await asyncio.to_thread(predicate):
        if loop.time() - start > within:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)
    return loop.time() - start


async def timed(method: str, url: str, **kw: Any) -> tuple[int, float]:
    """Status and seconds of one request (status 0: no answer)."""
    start = time.monotonic()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as s, \
                s.request(method, url, **kw) as resp:
            await resp.read()
            return resp.status, time.monotonic() - start
    except (aiohttp.ClientError, TimeoutError):
        return 0, time.monotonic() - start


Scenario = Callable[[Cluster, Load, dict[str, str]], Awaitable[dict[str, Any]]]


async def app_host_killed(c: Cluster, load: Load, probe: dict[str, str]) -> dict[str, Any]:
    lb = c.lb
    assert lb is not None
    c.kill("app1")
    out_s = await until(lambda: lb.status("app1").startswith("DOWN"), "HAProxy taking app1 out")
    await load.until(load.acked() + 200)  # served by the others
    c.start_app("app1")  # the host back
    back_s = await until(lambda: lb.status("app1") == "UP", "app1 back in HAProxy")
    return {"taken out after": f"{out_s:.1f} s", "restarted, back in": f"{back_s:.1f} s"}


async def app_host_cut(c: Cluster, load: Load, probe: dict[str, str]) -> dict[str, Any]:
    lb = c.lb
    assert lb is not None
    direct = c.app_url("app2")
    start = time.monotonic()
    c.net.link("app2", "back", up=False)

    async def taken_out() -> float:
        await until(lambda: lb.status("app2").startswith("DOWN"), "HAProxy taking app2 out")
        return time.monotonic() - start

    (update, update_s), (ready, ready_s), out_s = await asyncio.gather(
        timed("POST", direct + "/api/v1/scores/update",
              json={"action_type": "tap", "score_increment": 1},
              headers={"Authorization": f"Bearer {probe['token']}",
                       "Idempotency-Key": "probe"}),
        timed("GET", direct + "/readyz"), taken_out())
    await load.until(load.acked() + 200)  # the others carry on
    c.net.link("app2", "back", up=True)
    back_s = await until(lambda: lb.status("app2") == "UP", "app2 back in HAProxy")
    served = lb.sessions("app2")
    await until(lambda: lb.sessions("app2") > served + 20, "HAProxy sending to app2 again")
    problems = []
    if update not in (503, 200):  # 200: the cut came after the request; never a hang
        problems.append(f"an update on the cut-off host answered {update}")
    if ready != 503:
        problems.append(f"/readyz on the cut-off host answered {ready}")
    return {"cut host's update": f"{update} in {update_s:.2f} s",
            "its /readyz": f"{ready} in {ready_s:.2f} s",
            "taken out after": f"{out_s:.1f} s", "healed, back in": f"{back_s:.1f} s",
            "problems": problems}


async def data_and_app_host_lost(c: Cluster, load: Load,
                                 probe: dict[str, str]) -> dict[str, Any]:
    lb = c.lb
    assert c.standby is not None and lb is not None
    start = time.monotonic()
    c.kill("db1")
    c.kill("app3")
    if c.mode == "batch":  # updates go on without PostgreSQL once the master moved
        await load.until(load.acked() + 200)
    else:  # direct mode writes PostgreSQL first: promote once the master moved
        new_master = (c.net.back("db2"), REDIS)
        await until(lambda: c.master_address() == new_master, "the Sentinels moving the master")
    master_s = time.monotonic() - start
    await asyncio.to_thread(c.standby.promote)
    promoted_s = time.monotonic() - start
    ready_s = await until(lambda: sum(lb.status(h) == "UP" for h in APPS) == 2,
                          "app1 and app2 ready on the promoted PostgreSQL")
    figures = {"PostgreSQL promoted at": f"{promoted_s:.1f} s",
               "ready again after promotion": f"{ready_s:.1f} s"}
    if c.mode == "batch":  # they flowed before the promotion
        figures["updates again after"] = f"{master_s:.1f} s"
    else:
        await load.until(load.acked() + 1)
        figures["master moved after"] = f"{master_s:.1f} s"
        figures["updates again after"] = f"{time.monotonic() - start:.1f} s"
    return figures


SCENARIOS: list[tuple[str, Scenario]] = [
    ("app host killed", app_host_killed),
    ("app host cut off", app_host_cut),
    ("data host and app host lost", data_and_app_host_lost),
]


@contextlib.asynccontextmanager
async def backends(c: Cluster) -> Any:
    """A PostgreSQL pool on the primary and a Redis client on the master, as they are now."""
    sentinel = Sentinel(c.sentinels, socket_timeout=2.0)
    client = sentinel.master_for(MASTER, socket_timeout=2.0)
    pool = await asyncpg.create_pool(c.dsn, min_size=1, max_size=4)
    try:
        yield pool, client
    finally:
        await pool.close()
        await client.aclose()


async def players(c: Cluster, name: str, n: int) -> dict[str, str]:
    config = from_env({"JWT_SECRET": SECRET})
    async with backends(c) as (pool, client):
        made = [await users.create(pool, client, f"{name}{i}", f"{name}{i}@x.io", None)
                for i in range(n)]
    return {u["id"]: mint(config, u["id"]) for u in made}


async def run_scenario(c: Cluster, number: int, name: str, scenario: Scenario,
                       n_players: int) -> dict[str, Any]:
    assert c.lb is not None
    tokens = await players(c, f"s{number}p", n_players)
    probe = await players(c, f"s{number}probe", 1)
    load = Load([c.lb.url], tokens, watchers=6, readers=2, hostile=1)
    top10_url = c.lb.url + "/api/v1/leaderboard/top10"

    async def top10() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as s, s.get(top10_url) as r:
            return list((await r.json())["data"]["leaderboard"])

    async with load:
        await load.until(300)
        connects = [w.connects for w in load.history.watchers]
        figures = await scenario(c, load, {"token": next(iter(probe.values()))})
        await load.until(load.acked() + 300)
        history: History = await load.stop()
        async with backends(c) as (pool, client):
            await settle(pool, client, history, within=WAIT_S)
            problems = [*figures.pop("problems", []),
                        *await check(history, pool, client, top10)]
            state = await stored(pool, client)
    reconnected = sum(w.connects > before for w, before in zip(history.watchers, connects,
                                                                strict=True))
    mine = [state.get(uid, (0, 0, 0)) for uid in history.players]
    return {
        "scenario": name,
        "acknowledged": sum(p.acked for p in history.players.values()),
        "unanswered": sum(p.unanswered for p in history.players.values()),
        "in PostgreSQL": sum(s[0] for s in mine),
        "event rows": sum(s[1] for s in mine),
        "in Redis": sum(s[2] for s in mine),
        "watchers reconnected": f"{reconnected} of {len(history.watchers)}",
        **figures,
        "problems": problems,
    }


def run_once(net: Network, mode: str, n_players: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="sb-cluster-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        cluster = Cluster(net, root, mode)
        try:
            cluster.start()
            rows = []
            for number, (name, scenario) in enumerate(SCENARIOS, 1):
                row = asyncio.run(run_scenario(cluster, number, name, scenario, n_players))
                print(json.dumps(row), flush=True)
                rows.append(row)
            return rows
        except BaseException:
            for log in sorted(root.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {log.name}\n" + "\n".join(tail), file=sys.stderr)
            raise
        finally:
            cluster.stop()


def inside(tag: str, runs: int, mode: str, n_players: int) -> int:
    net = Network(tag)
    failed = 0
    for run in range(1, runs + 1):
        print(f"# run {run} of {runs} ({mode} mode, {n_players} players per scenario)",
              flush=True)
        rows = run_once(net, mode, n_players)
        failed += sum(bool(r["problems"]) for r in rows)
    print("every guarantee held" if not failed else f"{failed} scenario(s) broke a guarantee")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--players", type=int, default=12)
    parser.add_argument("--mode", choices=("batch", "direct"), default="batch")
    parser.add_argument("--inside", help=argparse.SUPPRESS)  # the client host's half
    args = parser.parse_args()
    if args.inside:
        return inside(args.inside, args.runs, args.mode, args.players)
    if os.geteuid() != 0 or not shutil.which("ip"):
        print("bench.cluster needs root and iproute2 (ip netns): not run", file=sys.stderr)
        return 2
    try:
        ensure_tool("haproxy")
    except SystemExit as exc:  # not installed, and apt-get could not install it
        print(f"bench.cluster: {exc}: not run", file=sys.stderr)
        return 2
    net = Network(f"sb{os.getpid()}")
    try:
        net.up()
    except subprocess.CalledProcessError as e:
        net.down()
        print(f"bench.cluster: network namespaces unavailable here ({e.stderr.strip()})",
              file=sys.stderr)
        return 2
    try:
        return subprocess.run([*net.prefix("client"), sys.executable, "-m", "bench.cluster",
                               "--inside", net.tag, "--runs", str(args.runs), "--mode",
                               args.mode, "--players", str(args.players)], cwd=ROOT,
                              check=False).returncode
    finally:
        net.down()


if __name__ == "__main__":
    sys.exit(main())
