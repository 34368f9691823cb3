"""JWT verification and minting.

A token's signature, algorithm and claims are checked here; whether its
session is live is ``sessions``' job. Verified claims are cached in process
by the token text, so the signature is checked once per token, not once per
request.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import hdrs, web

from .. import errors
from ..settings import MAX_TOKEN_TTL_S, Config

LEEWAY_S = 10
CACHE_SIZE = 50_000
REQUIRED = ["exp", "iat", "sub", "jti"]


@dataclass(frozen=True, slots=True)
class Claims:
    sub: str
    jti: str
    exp: int
    admin: bool


class TokenVerifier:
    def __init__(self, config: Config) -> None:
        self._secret = config.jwt_secret
        self._public = config.jwt_public_key
        self._issuer = config.jwt_issuer
        self._audience = config.jwt_audience
        algs = []
        if self._secret:
            algs.append("HS256")
        if self._public:
            algs += ["RS256", "ES256"]
        self._algorithms = algs
        self._cache: OrderedDict[str, Claims] = OrderedDict()

    def verify(self, token: str) -> Claims:
        """Claims of a well-signed, unexpired token; Unauthorized otherwise."""
        claims = self._cache.get(token)
        if claims is not None:
            if claims.exp + LEEWAY_S > time.time():
                return claims
            del self._cache[token]
            raise errors.Unauthorized()
        claims = self._decode(token)
        self._cache[token] = claims
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if alg not in self._algorithms or "crit" in header:
                raise errors.Unauthorized()
            key = (self._secret if alg == "HS256" else self._public) or ""
            payload = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                options={"require": REQUIRED, "verify_iss": bool(self._issuer),
                         "verify_aud": bool(self._audience)},
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_S,
            )
            sub = str(uuid.UUID(str(payload["sub"])))
            jti = payload["jti"]
            if not isinstance(jti, str) or not 1 <= len(jti) <= 128:
                raise errors.Unauthorized()
            exp = payload["exp"]
            if isinstance(exp, bool) or not isinstance(exp, int | float):
                raise errors.Unauthorized()
            if exp > time.time() + MAX_TOKEN_TTL_S + LEEWAY_S:  # also 1e308 and inf
                raise errors.Unauthorized()
            return Claims(sub=sub, jti=jti, exp=int(exp), admin=payload.get("role") == "admin")
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise errors.Unauthorized() from None


def mint(config: Config, user_id: str, *, ttl_s: int | None = None, admin: bool = False) -> str:
    """A fresh HS256 token with a new session id."""
    if not config.jwt_secret:
        raise errors.Forbidden("This service does not issue tokens (no JWT_SECRET)")
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": user_id,
        "iat": now,
        "exp": now + (config.jwt_ttl_s if ttl_s is None else ttl_s),
        "jti": uuid.uuid4().hex,
    }
    if admin:
        payload["role"] = "admin"
    if config.jwt_issuer:
        payload["iss"] = config.jwt_issuer
    if config.jwt_audience:
        payload["aud"] = config.jwt_audience
    return jwt.encode(payload, config.jwt_secret, algorithm="HS256")


def bearer(request: web.Request) -> str | None:
    header = request.headers.get(hdrs.AUTHORIZATION, "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
