"""Running the app: one process, or N processes sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from types import FrameType

import uvloop
from aiohttp import web

from .app import create_app
from .config import Config
from .logs import AccessLogger

log = logging.getLogger(__name__)
SHUTDOWN_TIMEOUT_S = 10.0


def run_server(cfg: Config, *, host: str, port: int, reuse_port: bool = False,
               demo: bool = False) -> int:
    app = create_app(cfg)
    if demo:
        from .demo import setup_demo

        setup_demo(app, host=host, port=port)
    try:
        web.run_app(
            app, host=host, port=port, reuse_port=reuse_port, access_log_class=AccessLogger,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S, loop=uvloop.new_event_loop(),
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


def run_workers(cfg: Config, args: argparse.Namespace) -> int:
    """Start N children on one port; forward SIGTERM/SIGINT; exit when all have."""
    cmd = [sys.executable, "-m", "scoreboard", "serve", "--host", args.host,
           "--port", str(args.port), "--worker-child"]
    # prometheus-client's multiprocess mode: every child's /metrics covers all of them
    metrics_dir = tempfile.mkdtemp(prefix="scoreboard-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    children = [subprocess.Popen(cmd, env=env) for _ in range(args.workers)]

    def forward(signum: int, frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return max(codes, default=0)
