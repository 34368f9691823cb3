"""The seed's JSON envelope, serialized with orjson."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .. import headers as headers_
from ..clock import now_ms

JSON = headers_.JSON


def ok(data: Any, *, status: int = 200, timestamp: int | None = None,
       headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps({"success": True, "data": data, "timestamp": timestamp or now_ms()})
    return web.Response(body=body, status=status,
                        headers={**headers_.JSON_COMMON, **headers} if headers
                        else headers_.JSON_COMMON)


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> bytes:
    err: dict[str, Any] = {"code": code, "message": message}
    if fields:
        err["fields"] = fields
    # the seed's error shape, exactly; a list's errors are keyed by position (ints)
    return orjson.dumps({"success": False, "error": err}, option=orjson.OPT_NON_STR_KEYS)


def error(status: int, code: str, message: str, *, fields: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=error_body(code, message, fields), status=status,
                        content_type=JSON, headers=headers)
