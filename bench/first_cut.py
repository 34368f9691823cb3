"""A plain first cut of the score update, the baseline bench.updates measures the
service against: PyJWT, marshmallow, one Lua call (ZINCRBY, XADD, ZREVRANK, PUBLISH)
and an orjson reply; no logging, metrics, rate limits, idempotency or boards.

    python -m bench.first_cut SECRET PORT REDIS_URL
"""

from __future__ import annotations

import sys

import jwt
import orjson
import uvloop
from aiohttp import web
from marshmallow import Schema, fields, validate
from redis.asyncio import Redis

LUA = """
local total = redis.call('ZINCRBY', KEYS[1], ARGV[2], ARGV[1])
redis.call('XADD', KEYS[2], '*', 'u', ARGV[1], 'i', ARGV[2])
local rank = redis.call('ZREVRANK', KEYS[1], ARGV[1])
redis.call('PUBLISH', KEYS[3], ARGV[1])
return {total, rank}
"""
KEYS = ["firstcut:scores", "firstcut:events", "firstcut:channel"]


class Update(Schema):
    action_type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    score_increment = fields.Integer(required=True, strict=True,
                                     validate=validate.Range(min=1, max=1000))


def main() -> None:
    secret, port, redis_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    schema = Update()
    redis = Redis.from_url(redis_url)
    script = redis.register_script(LUA)

    async def update(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(auth[7:], secret, algorithms=["HS256"])
        except jwt.PyJWTError:
            return web.Response(status=401)
        body = schema.load(orjson.loads(await request.read()))
        total, rank = await script(keys=KEYS, args=[claims["sub"], body["score_increment"]])
        return web.Response(body=orjson.dumps({"success": True, "data": {
            "user_id": claims["sub"], "new_score": int(float(total)),
            "current_rank": int(rank) + 1}}), content_type="application/json")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/api/v1/scores/update", update)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None,
                loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
