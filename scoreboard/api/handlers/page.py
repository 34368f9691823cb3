from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..docs import content, fails, operation

INDEX = Path(__file__).resolve().parent.parent.parent / "static" / "index.html"


@operation(summary="The live leaderboard page",
           responses={**content("text/html", "HTML"), **fails()})
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(INDEX, headers={"Cache-Control": "no-cache"})
