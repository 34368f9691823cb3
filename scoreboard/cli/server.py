"""Running the app: one process, or N processes sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
from types import FrameType

import uvloop
from aiohttp import web

from ..api.guard import GuardedRunner
from ..app import create_app
from ..obs import logs
from ..settings import Config

log = logging.getLogger(__name__)


def run_server(cfg: Config, *, host: str, port: int, reuse_port: bool = False,
               demo: bool = False, parent_pid: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT; 1 with one line on stderr if it cannot start."""
    app = create_app(cfg)
    if demo:
        from .demo import setup_demo

        setup_demo(app, host=host, port=port)
    runner = GuardedRunner(
        app, max_connections=cfg.http_max_connections, read_timeout_s=cfg.http_read_timeout_s,
        handle_signals=True, access_log_class=logs.AccessLogger,
        keepalive_timeout=cfg.http_keepalive_s, shutdown_timeout=cfg.shutdown_timeout_s,
        auto_decompress=False,  # a compressed body is refused (415), never inflated
    )
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    main = loop.create_task(_serve(runner, host, port, reuse_port, parent_pid))
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    except OSError as exc:
        print(f"scoreboard: error: cannot serve on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a resource failed to start: one line, no traceback
        print(f"scoreboard: error: start-up failed: {exc.__class__.__name__}: {exc}",
              file=sys.stderr)
        return 1
    finally:
        if not main.done():  # a signal stopped it: its own finally cleans up
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(main)
        _cancel_all(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


async def _serve(runner: GuardedRunner, host: str, port: int, reuse_port: bool,
                 parent_pid: int | None) -> None:
    """Serve until cancelled (after a signal) or, for a worker, until its parent is gone
    (killed with -9, it could not pass a signal on); then clean up in this same task."""
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
        log.info("listening on http://%s:%d (pid %d)", host, port, os.getpid())
        if parent_pid is None:
            await asyncio.Event().wait()
        else:
            await _exited(parent_pid)
            log.warning("the parent process is gone; stopping")
    finally:
        await runner.cleanup()


async def _exited(pid: int) -> None:
    """Returns when the parent process ``pid`` has exited (a pidfd becomes readable then,
    or it was gone already: this process was handed to another parent)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    if os.getppid() != pid:  # died (and its pid maybe reused) before the pidfd was open
        os.close(fd)
        return
    gone = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(fd, gone.set)
    try:
        await gone.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


def run_workers(cfg: Config, *, host: str, port: int, workers: int) -> int:
    """Start N processes on one port, each handed the resolved configuration (embedded
    URLs and dev secret included) on its stdin; forward SIGTERM/SIGINT; exit when all
    have."""
    # prometheus-client's multiprocess mode: every child's /metrics covers all of them
    metrics_dir = tempfile.mkdtemp(prefix="scoreboard-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    handover = pickle.dumps((cfg, host, port, os.getpid()))
    children = []
    for _ in range(workers):
        child = subprocess.Popen([sys.executable, "-m", __name__], env=env, stdin=subprocess.PIPE)
        if child.stdin is not None:  # always, with stdin=PIPE
            child.stdin.write(handover)
            child.stdin.close()
        children.append(child)

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return max(codes, default=0)


def _worker_main() -> int:
    """A child of ``run_workers``: its configuration comes on stdin, from the parent."""
    # the parent's pid comes with the configuration: os.getppid() here could already name
    # init, had the parent been killed while this process was still importing
    cfg, host, port, parent_pid = pickle.loads(sys.stdin.buffer.read())
    logs.setup(cfg.log_level)
    return run_server(cfg, host=host, port=port, reuse_port=True, parent_pid=parent_pid)


if __name__ == "__main__":
    raise SystemExit(_worker_main())
