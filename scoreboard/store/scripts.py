"""The Lua boundary: one typed call site per script.

Each script in ``lua/`` names its KEYS and ARGV on its first lines; here each
has a pair of NamedTuples with the same names in the same order (a test holds
them to the Lua headers), and each reply kind has one parser that normalises
bytes and strings once. Callers build ``Keys(...)``/``Args(...)`` by name and
get a small dataclass back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from .autopipe import AutoPipeline, PipelinedScript
from .client import RedisClient, as_text

LUA_DIR = Path(__file__).parent / "lua"


@cache
def lua_source(name: str) -> str:
    """A script's text: the shared helpers (common.lua) followed by its own body."""
    return (LUA_DIR / "common.lua").read_text() + "\n" + (LUA_DIR / f"{name}.lua").read_text()


class Runner(Protocol):
    async def __call__(self, keys: Sequence[Any] = ..., args: Sequence[Any] = ...) -> Any: ...


def load(name: str, redis: RedisClient, pipe: AutoPipeline | None = None) -> Runner:
    """``lua/<name>.lua`` as a callable ``(keys, args)``: through the auto-pipeline when
    there is one, else through redis-py (the client decides the retry policy)."""
    source = lua_source(name)
    if pipe is not None:
        return PipelinedScript(pipe, source)
    runner: Runner = redis.register_script(source)
    return runner


# update.lua, admit.lua, settle.lua, release.lua ------------------------------------
class UpdateKeys(NamedTuple):
    scores: str
    member: str
    seq: str
    boardseq: str
    events: str
    profiles: str
    banned: str
    revoked: str
    rate: str
    idem: str


class UpdateArgs(NamedTuple):
    uid: str
    action: str
    increment: int
    body: str
    limit: int
    period_ms: int
    use_idem: str
    idem_ttl_s: int
    max_total: int
    channel: str
    top_n: int


class AdmitKeys(NamedTuple):
    scores: str
    member: str
    seq: str
    profiles: str
    banned: str
    revoked: str
    rate: str
    idem: str


class AdmitArgs(NamedTuple):
    uid: str
    increment: int
    body: str
    limit: int
    period_ms: int
    use_idem: str
    claim_ttl_s: int
    max_total: int


class SettleKeys(NamedTuple):
    scores: str
    member: str
    boardseq: str
    idem: str


class SettleArgs(NamedTuple):
    uid: str
    total: int
    seq: int
    use_idem: str
    idem_ttl_s: int
    channel: str
    top_n: int
    now: int
    body: str


class ReleaseKeys(NamedTuple):
    rate: str
    idem: str


class ReleaseArgs(NamedTuple):
    limit: int
    period_ms: int
    use_idem: str


@dataclass(frozen=True, slots=True)
class ScoreReply:
    """What update.lua, settle.lua (and admit.lua, for a replay) answer.

    ``status`` is OK or REPLAY with every field set, or a refusal (UNAUTHORIZED,
    FORBIDDEN, RATE_LIMITED with ``wait_ms``, SCORE_LIMIT_EXCEEDED,
    IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_IN_PROGRESS) with the rest zero.
    """

    status: str
    previous_score: int = 0
    new_score: int = 0
    previous_rank: int | None = None
    rank: int = 0
    now: int = 0
    board_seq: int = 0
    wait_ms: int = 0

    @property
    def applied(self) -> bool:
        return self.status in ("OK", "REPLAY")


def parse_score_reply(reply: Sequence[Any]) -> ScoreReply:
    status = as_text(reply[0])
    if status == "RATE_LIMITED":
        return ScoreReply(status, wait_ms=int(reply[1]))
    if len(reply) < 7:
        return ScoreReply(status)
    prev_rank = int(reply[3])
    return ScoreReply(status, int(reply[1]), int(reply[2]), None if prev_rank < 0 else prev_rank,
                      int(reply[4]), int(reply[5]), int(reply[6]))


@dataclass(frozen=True, slots=True)
class Admission:
    """admit.lua's answer: a reserved sequence (``reply`` None), or a reply to give."""

    seq: int
    now: int
    reply: ScoreReply | None


def parse_admission(reply: Sequence[Any]) -> Admission:
    if as_text(reply[0]) == "OK" and len(reply) == 3:
        return Admission(int(reply[1]), int(reply[2]), None)
    return Admission(0, 0, parse_score_reply(reply))


# ranks.lua ---------------------------------------------------------------------------
class RanksKeys(NamedTuple):
    scores: str
    member: str
    profiles: str


class RanksArgs(NamedTuple):
    mode: str  # 'range' (a, b: first and last position) or 'around' (a: user id, b: window)
    a: int | str
    b: int


@dataclass(frozen=True, slots=True)
class RanksReply:
    total: int
    self_rank: int | None
    self_score: int | None
    first_rank: int
    rows: list[tuple[str, int, bytes | str]]  # (user id, score, profile JSON or '')


def parse_ranks(reply: Sequence[Any]) -> RanksReply:
    rank = int(reply[1])
    score = int(float(reply[2])) if reply[2] not in (b"", "") else None
    flat = reply[4:]
    rows = [(as_text(flat[i]), int(float(flat[i + 1])), flat[i + 2])
            for i in range(0, len(flat), 3)]
    return RanksReply(int(reply[0]), rank if rank > 0 else None, score, int(reply[3]), rows)


# session.lua, ban.lua, renew_lock.lua --------------------------------------------------
class SessionKeys(NamedTuple):
    revoked: str
    profiles: str
    banned: str


class SessionArgs(NamedTuple):
    uid: str


def parse_status(reply: Any) -> str:
    return as_text(reply)


class RefreshKeys(NamedTuple):
    revoked: str
    profiles: str
    banned: str
    rate: str


class RefreshArgs(NamedTuple):
    uid: str
    jti: str
    ttl_ms: int
    limit: int
    period_ms: int
    channel: str


class BanKeys(NamedTuple):
    scores: str
    member: str
    hidden: str
    banned: str
    boardseq: str


class BanArgs(NamedTuple):
    action: str  # 'ban' or 'unban'
    uid: str
    channel: str
    top_n: int


class RenewLockKeys(NamedTuple):
    lock: str


class RenewLockArgs(NamedTuple):
    owner: str
    ttl_ms: int


# name -> (keys, args): what the header test checks every lua/<name>.lua against
SPECS: dict[str, tuple[type[tuple[Any, ...]], type[tuple[Any, ...]]]] = {
    "update": (UpdateKeys, UpdateArgs),
    "admit": (AdmitKeys, AdmitArgs),
    "settle": (SettleKeys, SettleArgs),
    "release": (ReleaseKeys, ReleaseArgs),
    "ranks": (RanksKeys, RanksArgs),
    "session": (SessionKeys, SessionArgs),
    "refresh": (RefreshKeys, RefreshArgs),
    "ban": (BanKeys, BanArgs),
    "renew_lock": (RenewLockKeys, RenewLockArgs),
}
