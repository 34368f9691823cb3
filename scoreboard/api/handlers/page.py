from __future__ import annotations

from pathlib import Path

from aiohttp import web

INDEX = Path(__file__).resolve().parent.parent.parent / "static" / "index.html"


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(INDEX, headers={"Cache-Control": "no-cache"})
