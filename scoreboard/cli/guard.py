"""In front of aiohttp's connection handling: a cap on connections per process and a
deadline for each new connection's first request.

aiohttp waits for ever for a request's headers and accepts connections until the
process runs out of descriptors, so a slowloris client or a pile of idle
sockets could starve everyone. ``GuardedRunner`` hands its sites a protocol
factory that

- closes a connection that has not sent a whole request head within
  ``HTTP_READ_TIMEOUT_S`` (the body has the same limit, in ``requests.read_json``);
- at ``HTTP_MAX_CONNECTIONS`` first closes the oldest connection that has not
  sent a request yet, and when every connection is busy refuses the new one
  cleanly: a 503 envelope, then close;
- answers the errors aiohttp's protocol raises before any handler runs (a malformed
  request head, a head too large) with the envelope and our ``Server`` header, not
  aiohttp's ``text/plain`` page that names the framework and its version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .. import errors
from .. import headers as headers_
from ..api.envelope import error_body
from ..obs import metrics

_UNAVAILABLE = errors.REGISTRY["SERVICE_UNAVAILABLE"]
_BODY = error_body(_UNAVAILABLE.code, "Too many connections; retry shortly")
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
           b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(_BODY)
           + _BODY)


class Refusal(asyncio.Protocol):
    """Answers one connection with 503 and closes it, reading nothing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        metrics.CONNECTIONS_REFUSED.inc()
        # a stream transport (uvloop's is not an asyncio.WriteTransport subclass)
        cast(asyncio.Transport, transport).write(REFUSAL)
        transport.close()


_PROTOCOL_ERRORS = {400: "Malformed HTTP request", 413: "Request head is too large",
                    431: "Request head is too large"}


class EnvelopeHandler(RequestHandler):
    """aiohttp's protocol for one connection; its own errors answer with the envelope."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs; refuses mid-response
        code = errors.BY_STATUS.get(status, "VALIDATION_ERROR" if status < 500
                                    else "INTERNAL_ERROR")
        text = _PROTOCOL_ERRORS.get(status) or errors.REGISTRY[code].message
        resp = web.Response(body=error_body(code, text), status=status,
                            headers=headers_.JSON_COMMON)
        resp.force_close()
        return resp


class ConnectionGuard:
    """The protocol factory the listening sockets use, wrapping aiohttp's ``Server``."""

    def __init__(self, server: web.Server, *, max_connections: int,
                 read_timeout_s: float) -> None:
        self.server = server
        self.max_connections = max_connections
        self.read_timeout_s = read_timeout_s
        # connections that have not sent a request head yet, oldest first
        self.fresh: dict[RequestHandler, asyncio.TimerHandle] = {}
        make_request = server.request_factory

        def request_started(message: Any, payload: Any, protocol: Any, writer: Any,
                            task: Any) -> web.BaseRequest:
            timer = self.fresh.pop(protocol, None)
            if timer is not None:
                timer.cancel()
            return make_request(message, payload, protocol, writer, task)

        connection_lost = server.connection_lost

        def gone(handler: RequestHandler, exc: BaseException | None = None) -> None:
            timer = self.fresh.pop(handler, None)
            if timer is not None:
                timer.cancel()
            connection_lost(handler, exc)

        # this Server is ours alone: wrap the two hooks that tell a connection's state
        server.request_factory = request_started
        server.connection_lost = gone  # type: ignore[method-assign]
        # ``Server.connections`` copies its dict into a list on every call: with 10,000
        # sockets open, each new one would cost a 10,000-item copy. Its size is enough.
        live = getattr(server, "_connections", None)
        self._open: Callable[[], int] = (
            live.__len__ if isinstance(live, dict) else lambda: len(server.connections))

    def __call__(self) -> asyncio.Protocol:
        if self._open() >= self.max_connections and not self._evict_one():
            return Refusal()
        # aiohttp's Server builds a plain RequestHandler with these (web_server.py)
        server: Any = self.server
        handler = EnvelopeHandler(server, loop=server._loop, **server._kwargs)
        loop = asyncio.get_running_loop()
        self.fresh[handler] = loop.call_later(self.read_timeout_s, self._expire, handler)
        return handler

    def _evict_one(self) -> bool:
        """Close the oldest connection that has sent nothing whole; False if there is none."""
        for handler in self.fresh:
            self._expire(handler)
            return True
        return False

    def _expire(self, handler: RequestHandler) -> None:
        timer = self.fresh.pop(handler, None)
        if timer is not None:
            timer.cancel()
            metrics.CONNECTIONS_EXPIRED.inc()
            handler.force_close()


class GuardedRunner(web.AppRunner):
    """An AppRunner whose sites accept connections through a ``ConnectionGuard``."""

    def __init__(self, app: web.Application, *, max_connections: int, read_timeout_s: float,
                 **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._limits = (max_connections, read_timeout_s)
        self._guard: ConnectionGuard | None = None

    @property
    def server(self) -> Any:  # what TCPSite hands to loop.create_server
        inner = super().server
        if inner is None:
            return None
        if self._guard is None or self._guard.server is not inner:
            self._guard = ConnectionGuard(inner, max_connections=self._limits[0],
                                          read_timeout_s=self._limits[1])
        return self._guard
