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

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
REQUEST_ID_KEY = web.RequestKey("request_id", str)


_PREFIX = uuid.uuid4().hex[:8]
_COUNTER = itertools.count(1)


def request_id_for(request: web.BaseRequest) -> str:
    """The caller's X-Request-Id when it is sane, else a new one: a per-process random
    prefix and a counter (unique, and cheaper than a uuid4 per request)."""
    given = request.headers.get("X-Request-Id", "")
    if 0 < len(given) <= 64 and given.isascii() and given.isprintable():
        return given
    return f"{_PREFIX}-{next(_COUNTER):x}"


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


class AccessLogger(AbstractAccessLogger):
    """Method, path (without the query: tokens travel there), status and duration.

    At the default level (INFO) only the requests worth a look get a line: a 5xx, or
    one slower than ``SLOW_REQUEST_S``. Every request gets one at DEBUG. A line per
    request cost about half of the cached top 10's rate, and the metrics already count
    every request by route, status and latency.
    """

    @property
    def enabled(self) -> bool:
        """aiohttp skips the call altogether when access lines would be dropped."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        if (response.status < 500 and time_ < SLOW_REQUEST_S
                and not self.logger.isEnabledFor(logging.DEBUG)):
            return
        self.logger.info(
            "%s %s %s", request.method, request.path, response.status,
            extra={"method": request.method, "path": request.path, "status": response.status,
                   "duration_ms": round(time_ * 1000, 2),
                   "request_id": request.get(REQUEST_ID_KEY, "")},
        )

