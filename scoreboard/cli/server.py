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
from collections.abc import Awaitable
from types import FrameType

import uvloop
from aiohttp import web

from ..app import create_app
from ..obs import logs
from ..settings import Config
from .guard import GuardedRunner

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
        handle_signals=False,  # _serve's own handlers: a stop is an event, not a cancel
        access_log_class=logs.AccessLogger,
        keepalive_timeout=cfg.http_keepalive_s, shutdown_timeout=cfg.shutdown_timeout_s,
        auto_decompress=False,  # a compressed body is refused (415), never inflated
    )
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(runner, host, port, reuse_port, parent_pid))
    except OSError as exc:
        print(f"scoreboard: error: cannot serve on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a resource failed to start: one line, no traceback
        print(f"scoreboard: error: start-up failed: {exc.__class__.__name__}: {exc}",
              file=sys.stderr)
        return 1
    finally:
        _cancel_all(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
    return 0


async def _serve(runner: GuardedRunner, host: str, port: int, reuse_port: bool,
                 parent_pid: int | None) -> None:
    """Serve until SIGTERM/SIGINT or, for a worker, until its parent is gone (killed
    with -9, it could not pass a signal on); then clean up.

    A signal sets an event rather than cancelling this task: a cancellation that lands
    while the start-up awaits a library call can be swallowed by it (Python 3.11's
    ``asyncio.wait_for`` does so when its inner call finishes at that moment), and the
    process would then serve on, deaf to the signal it already had."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        if await _unless(stop, runner.setup()):
            await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
            log.info("listening on http://%s:%d (pid %d)", host, port, os.getpid())
            if parent_pid is None:
                await stop.wait()
            elif await _unless(stop, _exited(parent_pid)):
                log.warning("the parent process is gone; stopping")
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _unless(stop: asyncio.Event, step: Awaitable[None]) -> bool:
    """Runs ``step`` unless ``stop`` is set first: True if it finished and no stop came.
    On a stop, ``step`` is cancelled and awaited; were the cancellation swallowed and
    the step completed, the answer is still False."""
    task = asyncio.ensure_future(step)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # stopping anyway
            await task
        return False
    task.result()  # a start-up error goes up from here
    return not stop.is_set()


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
