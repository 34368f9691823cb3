"""Structured logs: one JSON line per event; the access log never prints a query string."""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import sys
import uuid
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from multidict import istr

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# header names as istr: a lookup or a set with a plain str case-folds it every time
X_REQUEST_ID = istr("X-Request-Id")


_PREFIX = uuid.uuid4().hex[:8]
# the prefix, "-", the counter in hex: each formatted by C code, no Python call per id
_IDS = map(f"{_PREFIX}-%x".__mod__, itertools.count(1))


def request_id_for(request: web.BaseRequest) -> str:
    """The caller's X-Request-Id when it is sane, else a new one: a per-process random
    prefix and a counter (unique, and cheaper than a uuid4 per request)."""
    given = request.headers.get(X_REQUEST_ID)
    if given is not None and 0 < len(given) <= 64 and given.isascii() and given.isprintable():
        return given
    return next(_IDS)


# A token never reaches a log line, whoever writes it (aiohttp quotes whole request
# lines in its parser errors): JWTs and ``token=`` values are masked in every line.
_SECRETS = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*|(?<=token=)[^&\s'\"\\]+")


def redact(text: str) -> str:
    return _SECRETS.sub("<redacted>", text)


class ClientFaults(logging.Filter):
    """aiohttp logs a request it cannot parse at error level with a traceback; a
    malformed request is the client's fault: one info line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = f"{record.getMessage()}: {exc.__class__.__name__}"
            record.args = None
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid:
            line["request_id"] = rid
        for extra in ("method", "path", "status", "duration_ms"):
            if hasattr(record, extra):
                line[extra] = getattr(record, extra)
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line).decode()


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # chatty at INFO
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # every job runs one at a time by design (max_instances=1): a tick that finds the
    # last run still going (a long archive, a persistence backlog) is skipped, not news
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    logging.getLogger("aiohttp.server").addFilter(ClientFaults())


SLOW_REQUEST_S = 1.0
ACCESS = logging.getLogger("aiohttp.access")


def access_line(method: str, path: str, status: int, seconds: float, request_id: str) -> None:
    """One access line: method, path (without the query: tokens travel there), status,
    duration."""
    ACCESS.info("%s %s %s", method, path, status,
                extra={"method": method, "path": path, "status": status,
                       "duration_ms": round(seconds * 1000, 2), "request_id": request_id})


def note_if_unusual(request: web.BaseRequest, status: int, seconds: float,
                    request_id: str) -> None:
    """At the default level (INFO) only the requests worth a look get an access line: a
    5xx, or one slower than ``SLOW_REQUEST_S``. The layer in front of every handler
    (api/middleware.py) calls this with the time it measured, so aiohttp's access
    logging stays off the request's path.
    A WebSocket (101) lasts as long as its watcher stays: that is not a slow request,
    and 10,000 sockets closing at a shutdown would otherwise write 10,000 lines."""
    slow = seconds >= SLOW_REQUEST_S and status != 101
    if (status >= 500 or slow) and not ACCESS.isEnabledFor(logging.DEBUG):
        access_line(request.method, request.path, status, seconds, request_id)


class AccessLogger(AbstractAccessLogger):
    """The full access log, a line for every request: at LOG_LEVEL=DEBUG only.

    aiohttp calls an access logger for every request while it is enabled; a line per
    request cost about half of the cached top 10's rate, and the metrics already count
    every request by route, status and latency. At INFO ``note_if_unusual`` writes the
    lines worth a look instead.
    """

    @property
    def enabled(self) -> bool:
        """aiohttp skips the call altogether when this is false."""
        return self.logger.isEnabledFor(logging.DEBUG)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        access_line(request.method, request.path, response.status, time_,
                    response.headers.get(X_REQUEST_ID, ""))
