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
  cleanly: a 503 envelope, then close.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .. import errors
from ..obs import metrics
from .envelope import error_body

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
        handler = self.server()
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
