"""Authentication: every JWT attack gets the seed's 401; sessions end on logout and refresh."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from scoreboard.auth.sessions import REFRESH_RATE_PER_MINUTE
from scoreboard.players.moderation import Moderation
from scoreboard.store import keys
from tests.support import SECRET, bearer, post_score

SEED_401 = {"code": "UNAUTHORIZED", "message": "Invalid or expired authentication token"}


def claims(subject: str, /, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": subject, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def assert_401(client: Any, headers: dict[str, str], redis: Redis) -> None:
    before = await redis.zcard(keys.SCORES), await redis.xlen(keys.EVENTS)
    resp = await client.post("/api/v1/scores/update", headers=headers,
                             json={"action_type": "level_complete", "score_increment": 5})
    body = await resp.json()
    assert resp.status == 401, body
    assert body == {"success": False, "error": SEED_401}  # the seed's body, for every cause
    assert (await redis.zcard(keys.SCORES), await redis.xlen(keys.EVENTS)) == before


@pytest.fixture
def rsa_pair() -> tuple[Any, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key, pem


async def test_hs256_attacks(client: Any, make_player: Any, redis: Redis) -> None:
    uid, good = await make_player()
    await post_score(client, good, 1)  # the genuine token works
    forged = {
        "no header": None,
        "basic scheme": "Basic " + good,
        "garbage": "Bearer not.a.token",
        "alg none": "Bearer " + b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims(uid)) + ".",
        "wrong key": "Bearer " + jwt.encode(claims(uid), "k" * 40, algorithm="HS256"),
        "expired": "Bearer " + jwt.encode(claims(uid, exp=int(time.time()) - 120), SECRET,
                                          algorithm="HS256"),
        "no exp": "Bearer " + jwt.encode(claims(uid, exp=None), SECRET, algorithm="HS256"),
        "no jti": "Bearer " + jwt.encode(claims(uid, jti=None), SECRET, algorithm="HS256"),
        "no sub": "Bearer " + jwt.encode(claims(uid, sub=None), SECRET, algorithm="HS256"),
        "sub not a uuid": "Bearer " + jwt.encode(claims("12345"), SECRET, algorithm="HS256"),
        "unknown user": "Bearer " + jwt.encode(claims(str(uuid.uuid4())), SECRET,
                                               algorithm="HS256"),
        "crit header": "Bearer " + jwt.encode(claims(uid), SECRET, algorithm="HS256",
                                              headers={"crit": ["x-custom"], "x-custom": 1}),
        "HS512": "Bearer " + jwt.encode(claims(uid), SECRET, algorithm="HS512"),
        "tampered": "Bearer " + good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        # a lifetime no session should have: it could never be logged out
        "exp 1e308": "Bearer " + jwt.encode(claims(uid, exp=1e308), SECRET, algorithm="HS256"),
        "exp in 10 years": "Bearer " + jwt.encode(
            claims(uid, exp=int(time.time()) + 10 * 366 * 86400), SECRET, algorithm="HS256"),
    }
    for name, header in forged.items():
        headers = {} if header is None else {"Authorization": header}
        try:
            await assert_401(client, headers, redis)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


async def test_rs256_and_algorithm_confusion(make_client: Any, make_player: Any, redis: Redis,
                                             rsa_pair: tuple[Any, str]) -> None:
    key, pem = rsa_pair
    client = await make_client(jwt_secret=None, jwt_public_key=pem)
    uid, _ = await make_player()
    good = jwt.encode(claims(uid), key, algorithm="RS256")
    body = await post_score(client, good, 3)  # a token minted by another service works
    assert body["data"]["user_id"] == uid
    # HS256 signed with the public key as the HMAC secret: the classic confusion
    import hashlib
    import hmac

    header = b64({"alg": "HS256", "typ": "JWT"})
    payload = b64(claims(uid))
    sig = hmac.new(pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{payload}." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    await assert_401(client, {"Authorization": "Bearer " + confused}, redis)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    await assert_401(client, bearer(jwt.encode(claims(uid), other, algorithm="RS256")), redis)


async def test_issuer_and_audience_when_configured(make_client: Any, make_player: Any,
                                                   redis: Redis) -> None:
    client = await make_client(jwt_issuer="games-inc", jwt_audience="scoreboard")
    uid, _ = await make_player()
    ok = jwt.encode(claims(uid, iss="games-inc", aud="scoreboard"), SECRET, algorithm="HS256")
    await post_score(client, ok, 1)
    for bad in (claims(uid, iss="other", aud="scoreboard"), claims(uid, iss="games-inc"),
                claims(uid, aud="scoreboard")):
        await assert_401(client, bearer(jwt.encode(bad, SECRET, algorithm="HS256")), redis)


@pytest.mark.redis62
async def test_logout_ends_the_session(client: Any, make_player: Any, redis: Redis) -> None:
    _, token = await make_player()
    await post_score(client, token, 1)
    resp = await client.post("/api/v1/auth/logout", headers=bearer(token))
    assert resp.status == 200
    await assert_401(client, bearer(token), redis)
    resp = await client.get("/api/v1/leaderboard/me", headers=bearer(token))
    assert resp.status == 401


async def test_refresh_gives_a_new_token_and_ends_the_old(client: Any, make_player: Any,
                                                          redis: Redis) -> None:
    uid, token = await make_player()
    resp = await client.post("/api/v1/auth/refresh", headers=bearer(token))
    body = await resp.json()
    assert resp.status == 200, body
    fresh = body["data"]["token"]
    assert fresh != token
    await assert_401(client, bearer(token), redis)
    again = await post_score(client, fresh, 2)
    assert again["data"]["user_id"] == uid


async def test_refresh_race_has_one_winner(client: Any, make_player: Any,
                                           redis: Redis) -> None:
    """30 refreshes of one token released together: one new session, the rest 401."""
    uid, token = await make_player()

    async def refresh() -> tuple[int, Any]:
        resp = await client.post("/api/v1/auth/refresh", headers=bearer(token))
        return resp.status, await resp.json()

    results = await asyncio.gather(*(refresh() for _ in range(30)))
    winners = [body["data"]["token"] for status, body in results if status == 200]
    assert len(winners) == 1, [status for status, _ in results]
    assert sorted(status for status, _ in results) == [200] + [401] * 29
    assert (await post_score(client, winners[0], 1))["data"]["user_id"] == uid
    await assert_401(client, bearer(token), redis)


async def test_logout_and_refresh_race_at_most_one_wins(client: Any, make_player: Any,
                                                        redis: Redis) -> None:
    """A logout and a refresh of one token, released together, in many rounds (both
    orders): never both 200; the session outlives its logout never."""
    outcomes = set()
    for round_ in range(12):
        _, token = await make_player()  # a fresh player, so the refresh rate is no factor
        requests = [client.post("/api/v1/auth/logout", headers=bearer(token)),
                    client.post("/api/v1/auth/refresh", headers=bearer(token))]
        if round_ % 2:
            requests.reverse()
        resps = await asyncio.gather(*requests)
        statuses = {str(r.url).rsplit("/", 1)[1]: r.status for r in resps}
        bodies = [await r.json() for r in resps]
        assert sorted(statuses.values()) == [200, 401], statuses
        outcomes.add(next(k for k, v in statuses.items() if v == 200))
        await assert_401(client, bearer(token), redis)
        if statuses["refresh"] == 200:  # the refresh won: its token is live
            fresh = next(b["data"]["token"] for b in bodies if b["success"])
            await post_score(client, fresh, 1)
    assert outcomes  # who wins varies; both answering 200 never happens


async def test_refresh_is_rate_limited(client: Any, make_player: Any, redis: Redis) -> None:
    _, token = await make_player()
    statuses = []
    for _ in range(REFRESH_RATE_PER_MINUTE + 1):
        resp = await client.post("/api/v1/auth/refresh", headers=bearer(token))
        body = await resp.json()
        statuses.append(resp.status)
        if resp.status != 200:
            assert resp.status == 429 and body["error"]["code"] == "RATE_LIMITED"
            assert int(resp.headers["Retry-After"]) >= 1
            break
        token = body["data"]["token"]
    assert statuses == [200] * REFRESH_RATE_PER_MINUTE + [429]
    # the refused refresh ended nothing: the last token still works
    await post_score(client, token, 1)
    revoked = [k async for k in redis.scan_iter(match=keys.revoked_key("*"))]
    assert len(revoked) == REFRESH_RATE_PER_MINUTE


async def test_banned_player_gets_403(client: Any, make_player: Any, pool: Any,
                                      redis: Redis) -> None:
    admin_id, _ = await make_player(admin=True)
    uid, token = await make_player()
    await post_score(client, token, 10)
    await Moderation(pool, redis).set_banned(admin_id, uid, True)
    before = await redis.xlen(keys.EVENTS)
    body = await post_score(client, token, 10, status=403)
    assert body["error"]["code"] == "FORBIDDEN"
    assert await redis.xlen(keys.EVENTS) == before
    await Moderation(pool, redis).set_banned(admin_id, uid, False)
    body = await post_score(client, token, 10)
    assert body["data"]["new_score"] == 20  # history kept through the ban
