from __future__ import annotations

import logging

from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError

from ... import errors
from ...appkeys import BOARDS, CONFIG, HUB, VERIFIER
from ...auth.tokens import bearer
from ...board.definitions import GLOBAL
from ..docs import BOARD_ID_SCHEMA, fails, operation
from .common import player

log = logging.getLogger(__name__)
SUBPROTOCOL_PREFIX = "bearer."
MAX_CLIENT_MESSAGE = 1024


def _token(request: web.Request) -> tuple[str | None, str | None]:
    """The token from ``?token=``, ``Authorization: Bearer`` or the ``bearer.<token>``
    subprotocol, and the subprotocol to echo back (browsers insist on it)."""
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    for proto in offered:
        if proto.startswith(SUBPROTOCOL_PREFIX) and len(proto) > len(SUBPROTOCOL_PREFIX):
            return proto[len(SUBPROTOCOL_PREFIX):], proto
    return request.query.get("token") or bearer(request), None


@operation(summary="WebSocket: the top 10, pushed on every change (token in ?token=, "
                   "Authorization or the bearer.<token> subprotocol)",
           parameters=[{"name": "token", "in": "query", "required": False,
                        "schema": {"type": "string"}},
                       {"name": "board", "in": "query", "required": False,
                        "schema": {**BOARD_ID_SCHEMA, "default": "global"}}],
           responses={"101": {"description": "Switching Protocols"},
                      **fails(400, 401, 403, 404, 429)})
async def leaderboard_ws(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    hub = request.app[HUB]
    token, protocol = _token(request)
    if not token:
        raise errors.Unauthorized()
    claims = request.app[VERIFIER].verify(token)
    # Browsers always send Origin on a WebSocket handshake; a game server or a
    # script sends none and is not what an origin check protects against.
    origin = request.headers.get("Origin")
    if config.ws_allowed_origins and origin is not None and (
            origin not in config.ws_allowed_origins):
        raise errors.Forbidden("Origin not allowed")
    await player(request, claims=claims)
    board = await request.app[BOARDS].get(request.query.get("board", GLOBAL))
    if hub.count_for(claims.sub) >= config.ws_max_per_user:
        raise errors.RateLimited("Too many live connections for this player",
                                 headers={"Retry-After": "5"})
    ws = web.WebSocketResponse(
        # the hub pings every socket from one timer (WS_HEARTBEAT_S) and sees the pongs
        heartbeat=None, autoping=False, max_msg_size=MAX_CLIENT_MESSAGE,
        protocols=(protocol,) if protocol else (),
        compress=False,  # the hub frames each message once for every socket
    )
    await ws.prepare(request)
    # From here on the connection speaks WebSocket: a failure closes the socket,
    # it must never become an HTTP error response written onto it.
    client = hub.add(ws, claims.sub, claims.jti, request.transport, board.id)
    try:
        await hub.snapshot_for(client)
        async for msg in ws:  # clients send nothing that matters but pongs, pings and close
            client.heard = True
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    except RedisError:
        log.warning("websocket closed: the board could not be read")
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"board unavailable")
    except Exception:
        log.exception("websocket handler failed")
        await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"internal error")
    finally:
        hub.remove(client)
    return ws
