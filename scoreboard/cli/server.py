"""Running the app: one process, or N processes sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from types import FrameType

import uvloop
from aiohttp import web

from ..app import create_app
from ..obs import logs
from ..settings import Config

log = logging.getLogger(__name__)


def run_server(cfg: Config, *, host: str, port: int, reuse_port: bool = False,
               demo: bool = False) -> int:
    app = create_app(cfg)
    if demo:
        from .demo import setup_demo

        setup_demo(app, host=host, port=port)
    try:
        web.run_app(
            app, host=host, port=port, reuse_port=reuse_port, access_log_class=logs.AccessLogger,
            shutdown_timeout=cfg.shutdown_timeout_s, loop=uvloop.new_event_loop(),
            print=lambda msg: log.info("listening on http://%s:%d (pid %d)", host, port,
                                       os.getpid()),
        )
    except OSError as exc:
        print(f"scoreboard: error: cannot serve on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 1
    except Exception as exc:  # a resource failed to start: one line, no traceback
        print(f"scoreboard: error: start-up failed: {exc.__class__.__name__}: {exc}",
              file=sys.stderr)
        return 1
    return 0


def _child(cfg: Config, host: str, port: int) -> None:
    logs.setup(cfg.log_level)
    raise SystemExit(run_server(cfg, host=host, port=port, reuse_port=True))


def run_workers(cfg: Config, *, host: str, port: int, workers: int) -> int:
    """Start N processes on one port, each given the resolved configuration; forward
    SIGTERM/SIGINT; exit when all have."""
    # prometheus-client's multiprocess mode: every child's /metrics covers all of them
    metrics_dir = tempfile.mkdtemp(prefix="scoreboard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    spawn = multiprocessing.get_context("spawn")
    children = [spawn.Process(target=_child, args=(cfg, host, port)) for _ in range(workers)]
    for child in children:
        child.start()

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.is_alive() and child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return max((child.exitcode or 0 for child in children), default=0)
