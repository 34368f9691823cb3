"""Structured logs: one JSON line per event; the access log never prints a query string."""

from __future__ import annotations

import contextvars
import itertools
import logging
import sys
import uuid
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid:
            line["request_id"] = rid
        for extra in ("method", "path", "status", "duration_ms"):
            if hasattr(record, extra):
                line[extra] = getattr(record, extra)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def setup(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # chatty at INFO
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


class AccessLogger(AbstractAccessLogger):
    """Method, path (without the query: tokens travel there), status and duration."""

    @property
    def enabled(self) -> bool:
        """aiohttp skips the call altogether when access lines would be dropped."""
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        self.logger.info(
            "%s %s %s", request.method, request.path, response.status,
            extra={"method": request.method, "path": request.path, "status": response.status,
                   "duration_ms": round(time_ * 1000, 2),
                   "request_id": request.get(REQUEST_ID_KEY, "")},
        )

