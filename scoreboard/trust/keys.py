"""Server keys: what one looks like, and every process's copy of the grants.

A key is ``sbk_<tag>_<secret>``: the deployment's tag (8 hex digits) and 256 random
bits (43 base64url characters). The service keeps only the secret's SHA-256. A fast
hash is enough here, unlike for a password: the secret is 256 random bits, not
something a person chose, so there is no dictionary to try and no guess that a slow
hash would make expensive; 2^256 tries stay out of reach at any hashing speed.

Each process holds every grant in memory (a dict by hash), so a key costs one
SHA-256 and one dict lookup per request, no query. Redis keeps the grants
(``{lb}:serverkeys``) with a version counter; each process polls the version every
``POLL_S`` and reloads when it moved. Revocation does not wait for that: the score
scripts refuse a revoked key atomically (``{lb}:revoked:sbk:<id>``), in every process
at once. ``last_used_at`` is written to PostgreSQL once per poll for the keys used
since, never once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from redis.exceptions import RedisError

from .. import errors
from ..clock import now_ms
from ..store import keys
from ..store.client import RedisClient
from ..tasks import reraise_if_cancelling

log = logging.getLogger(__name__)

PREFIX = "sbk_"
SHAPE = re.compile(r"sbk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})")
POLL_S = 0.5
SEEN_MAX = 10_000  # secrets remembered per process (at most MAX_KEYS are live)


def new_secret(tag: str) -> str:
    return f"{PREFIX}{tag}_{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_key(token: str) -> bool:
    """A bearer token meant as a server key (well formed or not)."""
    return token.startswith(PREFIX)


@dataclass(frozen=True, slots=True)
class Grant:
    """What a verified key may do: write for players, for its actions (None: all)."""

    id: str
    actions: frozenset[str] | None
    revoked: bool = False

    @property
    def revoked_key(self) -> str:
        return keys.key_revoked_key(self.id)

    def allows(self, action: str) -> bool:
        return self.actions is None or action in self.actions

    def encode(self) -> bytes:
        return orjson.dumps({"id": self.id, "revoked": self.revoked,
                             "actions": sorted(self.actions) if self.actions is not None
                             else None})


def decode_grant(raw: bytes | str) -> Grant:
    data = orjson.loads(raw)
    actions = data.get("actions")
    return Grant(str(data["id"]), frozenset(actions) if actions is not None else None,
                 bool(data.get("revoked")))


class KeyRing:
    """This process's copy of every grant, and the key checks a request goes through."""

    def __init__(self, redis: RedisClient, pool: asyncpg.Pool | None = None) -> None:
        self.redis = redis
        self.pool = pool
        self.version = -1
        self.tag: str | None = None
        self._by_hash: dict[str, Grant] = {}
        self._seen: dict[str, Grant] = {}  # by the secret's text: no hash per request
        self._used: dict[str, int] = {}  # key id -> last use (ms), not yet written

    def known(self, token: str) -> Grant:
        """The grant of a live key this process knows; 401 saying what is wrong
        otherwise."""
        grant = self._find(token)
        if grant is None:
            raise errors.Unauthorized("Unknown server key")
        return self._live(grant)

    async def verify(self, token: str) -> Grant:
        """As ``known``, and a key this process has not seen yet (made a moment ago in
        another process) is looked for in Redis once."""
        grant = self._find(token)
        if grant is None:
            await self.load()
            grant = self._find(token)
            if grant is None:
                raise errors.Unauthorized("Unknown server key")
        return self._live(grant)

    def _find(self, token: str) -> Grant | None:
        grant = self._seen.get(token)
        if grant is not None:
            return grant
        shape = SHAPE.fullmatch(token)
        if shape is None:
            raise errors.Unauthorized("Malformed server key")
        if self.tag is not None and shape.group(1) != self.tag:
            raise errors.Unauthorized("This server key belongs to another deployment")
        grant = self._by_hash.get(digest(token))
        if grant is not None and len(self._seen) < SEEN_MAX:
            self._seen[token] = grant
        return grant

    def _live(self, grant: Grant) -> Grant:
        if grant.revoked:
            raise errors.Unauthorized("This server key was revoked")
        self._used[grant.id] = now_ms()
        return grant

    async def load(self) -> None:
        """Bring the grants up to Redis's version (one GET when it has not moved)."""
        version = int(await self.redis.get(keys.SERVER_KEYS_VERSION) or 0)
        if version == self.version:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.get(keys.SERVER_KEYS_VERSION)
            pipe.hgetall(keys.SERVER_KEYS)
            pipe.get(keys.DEPLOYMENT)
            version_raw, raw, tag = await pipe.execute()
        self._by_hash = {(h.decode() if isinstance(h, bytes) else h): decode_grant(v)
                         for h, v in raw.items()}
        self._seen = {}
        self.tag = tag.decode() if isinstance(tag, bytes) else tag
        self.version = int(version_raw or 0)

    async def flush_used(self) -> None:
        """``last_used_at`` of the keys used since the last flush, in one statement."""
        if not self._used or self.pool is None:
            return
        used, self._used = self._used, {}
        try:
            await self.pool.execute(
                "UPDATE server_keys k SET last_used_at = to_timestamp(u.at / 1000.0)"
                " FROM unnest($1::uuid[], $2::bigint[]) AS u(id, at)"
                " WHERE k.id = u.id AND (k.last_used_at IS NULL"
                "   OR k.last_used_at < to_timestamp(u.at / 1000.0))",
                [uuid.UUID(i) for i in used], list(used.values()))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            log.warning("server keys' last use not written: %s", exc.__class__.__name__)
            for key_id, at in used.items():  # kept for the next flush
                self._used[key_id] = max(at, self._used.get(key_id, 0))

    async def run(self, stop: asyncio.Event) -> None:
        """Poll the grants' version and write last uses until ``stop`` is set: between
        polls, so no Redis call is cut off in flight (a connection cancelled mid-call is
        left for the collector to close)."""
        while not stop.is_set():
            try:
                await self.load()
            except RedisError as exc:
                reraise_if_cancelling()
                log.warning("server keys not reloaded: %s", exc.__class__.__name__)
            await self.flush_used()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_S)


async def mirror(redis: RedisClient, tag: str, grants: list[tuple[str, Grant]]) -> None:
    """Redis's copy of the tag and of ``grants`` (hash, grant), with their revocation
    markers, in one MULTI that bumps the version. Entries are only added or replaced."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.DEPLOYMENT, tag)
        for hashed, grant in grants:
            pipe.hset(keys.SERVER_KEYS, hashed, grant.encode())
            if grant.revoked:
                pipe.set(grant.revoked_key, 1)
        pipe.incr(keys.SERVER_KEYS_VERSION)
        await pipe.execute()


def grant_of(row: Any) -> tuple[str, Grant]:
    """(hash, grant) of a ``server_keys`` row."""
    actions = row["actions"]
    return (bytes(row["secret_hash"]).hex(),
            Grant(str(row["id"]), frozenset(actions) if actions is not None else None,
                  row["revoked_at"] is not None))
