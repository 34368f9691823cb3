from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ... import errors
from ..docs import content, fails, operation

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
INDEX = STATIC / "index.html"
# The page loads only its own script, style and images (avatars may be elsewhere on
# https) and talks only to this origin; nobody may frame it.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https: data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@operation(summary="The live leaderboard page",
           responses={**content("text/html", "HTML"), **fails()})
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(INDEX, headers=PAGE_HEADERS)


async def static(request: web.Request) -> web.FileResponse:
    """A file of the page; anything else, an escape from the folder included, is 404."""
    path = (STATIC / request.match_info["path"]).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise errors.NotFound("No such file")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})
