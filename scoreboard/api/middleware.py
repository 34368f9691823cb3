"""The layer in front of every handler: every failure becomes the seed's JSON envelope.

It wraps each handler when its route is registered (``api/routes.py``) rather than
being an aiohttp middleware. With any middleware at all, aiohttp builds and calls a
chain of wrappers on every request: a hello world behind a middleware that did
nothing ran at 0.88 of its rate. Requests no route takes go to one last catch-all
route (``routing.unmatched``), so a 404 or 405 gets the envelope too.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from .. import errors
from .. import headers as common
from ..obs import metrics
from ..obs.logs import (
    REQUEST_ID,
    SLOW_REQUEST_S,
    X_REQUEST_ID,
    note_if_unusual,
    request_id_for,
)
from ..store.client import OUTAGE
from . import envelope

log = logging.getLogger(__name__)

# A backend that is down, hung or failing over: the request is refused with 503, never
# a 500 (nothing was counted; the caller retries).
OUTAGES = (*OUTAGE, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
           ConnectionRefusedError, TimeoutError)


FastPath = Callable[[web.Request], web.StreamResponse | None]


def served(handler: Handler, route: str, fast: FastPath | None = None) -> Handler:
    """``handler`` behind the one layer: a request id for logs, the error envelope,
    metrics (under ``route``, the route's template), and the access line of an unusual
    request (5xx, slow). ``fast``: the handler's synchronous first try, which returns
    the response when it needs nothing awaited (a memo hit), else None and the handler
    runs; the layer calls it in place of the handler's coroutine, so a cached top 10 is
    served without creating and running one more coroutine per request. Whatever the
    handler carries (its OpenAPI operation) stays on the wrapper."""
    observe = metrics.TALLY.observe

    @functools.wraps(handler)
    async def serve(request: web.Request) -> web.StreamResponse:
        rid = request_id_for(request)
        start = time.perf_counter()
        try:
            response = fast(request) if fast is not None else None
            if response is None:
                # for the handler's log lines. aiohttp runs each request in a task of its
                # own, on its own copy of the context: the id ends with the task, nothing
                # to reset. A fast path logs nothing, so its answer skips the set.
                REQUEST_ID.set(rid)
                response = await handler(request)
        except Exception as exc:  # the envelope for whatever the handler raised
            REQUEST_ID.set(rid)
            response = _error_response(request, exc)
        elapsed = time.perf_counter() - start
        status = response.status
        observe(request.method, route, status, elapsed)
        if status >= 500 or elapsed >= SLOW_REQUEST_S:  # the common case costs no call
            note_if_unusual(request, status, elapsed, rid)
        if not response.prepared:
            headers = response.headers
            headers[X_REQUEST_ID] = rid
            if common.NOSNIFF not in headers:
                headers.update(common.COMMON)
        return response

    return serve


def _error_response(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The envelope for whatever a handler raised; redirects pass through."""
    if isinstance(exc, OUTAGES):
        exc = _unavailable(exc)
    if isinstance(exc, errors.ApiError):
        return envelope.error(exc.status, exc.code, exc.message, fields=exc.fields,
                              headers=exc.headers)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        code = errors.BY_STATUS.get(exc.status, "INTERNAL_ERROR" if exc.status >= 500 else "ERROR")
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        message = exc.reason if exc.status != 413 else errors.REGISTRY[code].message
        return envelope.error(exc.status, code, message, headers=headers)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    internal = errors.REGISTRY["INTERNAL_ERROR"]
    return envelope.error(internal.status, internal.code, internal.message)


def _unavailable(exc: Exception) -> errors.ServiceUnavailable:
    backend = metrics.backend_of(exc)
    metrics.BACKEND_ERRORS.labels(backend).inc()
    log.warning("backend unavailable (%s): %s", backend, exc.__class__.__name__)
    return errors.ServiceUnavailable("A backend is unavailable; nothing was changed, retry "
                                     "later")
