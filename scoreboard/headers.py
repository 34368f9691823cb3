"""Response headers every response carries, as ready dicts: the layer in front of every
handler (api/middleware.py) adds them to a response that lacks them, so a hot response
built with them from the start saves it two header writes."""

from __future__ import annotations

from aiohttp import hdrs
from multidict import istr

JSON = "application/json"
NOSNIFF = istr("X-Content-Type-Options")
COMMON: dict[str, str] = {hdrs.SERVER: "scoreboard",  # not the framework and its version
                          NOSNIFF: "nosniff"}
JSON_COMMON: dict[str, str] = {hdrs.CONTENT_TYPE: JSON, **COMMON}
