"""The error middleware: every failure becomes the seed's JSON envelope."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from . import envelope, errors, metrics
from .logs import REQUEST_ID, REQUEST_ID_KEY, request_id_for

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


@web.middleware
async def service_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one middleware: a request id for logs, the error envelope, and metrics.

    One layer rather than three: each aiohttp middleware costs a wrapper call on
    every request, and the score update is the hot path.
    """
    rid = request_id_for(request)
    request[REQUEST_ID_KEY] = rid
    token = REQUEST_ID.set(rid)
    start = time.perf_counter()
    try:
        response = await handler(request)
    except Exception as exc:  # the envelope for whatever the handler raised
        response = _error_response(request, exc)
    finally:
        REQUEST_ID.reset(token)
    metrics.observe(request, response.status, time.perf_counter() - start)
    if not response.prepared:
        response.headers["X-Request-Id"] = rid
    return response


def _error_response(request: web.Request, exc: Exception) -> web.StreamResponse:
    """The envelope for whatever a handler raised; redirects pass through."""
    if isinstance(exc, errors.ApiError):
        return envelope.error(exc.status, exc.code, exc.message, fields=exc.fields,
                              headers=exc.headers)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        code = _HTTP_CODES.get(exc.status, "INTERNAL_ERROR" if exc.status >= 500 else "ERROR")
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        message = exc.reason if exc.status != 413 else "Request body is too large"
        return envelope.error(exc.status, code, message, headers=headers)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return envelope.error(500, "INTERNAL_ERROR", "Internal server error")
