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


def load(name: str, redis: RedisClient, pipe: AutoPipeline | None = None, *,
         durable: bool = False) -> Runner:
    """``lua/<name>.lua`` as a callable ``(keys, args)``: through the auto-pipeline when
    there is one, else through redis-py (the client decides the retry policy).
    ``durable``: a write that is acknowledged only once the pipeline's replicas have it
    (settings refuse replicas where there is no auto-pipeline)."""
    source = lua_source(name)
    if pipe is not None:
        return PipelinedScript(pipe, source, durable)
    runner: Runner = redis.register_script(source)
    return runner


def with_boards(head: tuple[Any, ...], boards: Sequence[tuple[Any, ...]]) -> list[Any]:
    """KEYS or ARGV of a script that works on several boards: its fixed head, then one
    group per board (the script reads them with ``per_board`` in common.lua)."""
    out = list(head)
    for group in boards:
        out.extend(group)
    return out


# update.lua, admit.lua, settle.lua, release.lua ------------------------------------
class UpdateKeys(NamedTuple):
    seq: str
    events: str
    profiles: str
    banned: str
    version: str


class UpdateItemKeys(NamedTuple):
    revoked: str
    rate: str
    idem: str


class UpdateBoardKeys(NamedTuple):
    scores: str
    member: str
    boardseq: str
    meta: str


class UpdateArgs(NamedTuple):
    idem_ttl_s: int
    max_total: int
    channel: str
    top_n: int
    version: int


class UpdateItemArgs(NamedTuple):
    uid: str
    action: str
    value: int
    body: str
    limit: int
    period_ms: int
    use_idem: str
    writer: str  # the server key's id; '' for the player's own token
    metadata: str  # JSON object; '' for none
    nboards: int


class UpdateBoardArgs(NamedTuple):
    board: str
    season: int
    operator: str
    order: str
    rules: str  # board/competition.py's rules; '' for none


class AdmitKeys(NamedTuple):
    seq: str
    profiles: str
    banned: str
    revoked: str
    rate: str
    idem: str
    version: str


class AdmitBoardKeys(NamedTuple):
    scores: str
    member: str


class AdmitArgs(NamedTuple):
    uid: str
    writer: str
    value: int
    body: str
    limit: int
    period_ms: int
    use_idem: str
    claim_ttl_s: int
    max_total: int
    version: int


class AdmitBoardArgs(NamedTuple):
    board: str
    season: int
    operator: str
    order: str
    rules: str


class SettleKeys(NamedTuple):
    idem: str


class SettleArgs(NamedTuple):
    uid: str
    use_idem: str
    idem_ttl_s: int
    channel: str
    top_n: int
    now: int
    body: str
    metadata: str
    seq: int


class SettleBoardArgs(NamedTuple):
    board: str
    season: int
    operator: str
    order: str
    score: int
    reached: int


class ReleaseKeys(NamedTuple):
    rate: str
    idem: str


class ReleaseBoardKeys(NamedTuple):
    attempts: str


class ReleaseArgs(NamedTuple):
    limit: int
    period_ms: int
    use_idem: str
    uid: str


# Built on every update: slots without frozen (a frozen dataclass sets each field through
# object.__setattr__, about four times the cost). Nothing changes them after parsing.
@dataclass(slots=True)
class BoardResult:
    """One board's part of an applied update (scores as shown: asc boards un-negated)."""

    previous_score: int
    new_score: int
    previous_rank: int | None
    rank: int
    board_seq: int
    gate: int = 0  # why the board did not take the update (GATES); 0: it did
    attempts_left: int = -1  # -1: not limited


@dataclass(slots=True)
class ScoreReply:
    """What update.lua, settle.lua (and admit.lua, for a replay) answer.

    ``status`` is OK or REPLAY with ``now`` and one ``boards`` entry per board, in the
    order they were given; or STALE (the caller's board definitions are old); or a
    refusal (UNAUTHORIZED, FORBIDDEN, RATE_LIMITED with ``wait_ms``,
    SCORE_LIMIT_EXCEEDED, IDEMPOTENCY_KEY_REUSED, IDEMPOTENCY_IN_PROGRESS, GATED with
    ``gate``: no board would take it, the first one's reason).
    """

    status: str
    now: int = 0
    boards: tuple[BoardResult, ...] = ()
    wait_ms: int = 0
    gate: int = 0

    @property
    def applied(self) -> bool:
        return self.status in ("OK", "REPLAY")


def parse_score_replies(reply: Sequence[Any], n: int) -> list[ScoreReply]:
    """update.lua's answer: one reply per update (all STALE when the script was)."""
    if reply and not isinstance(reply[0], list):
        return [ScoreReply(as_text(reply[0]))] * n
    return [parse_score_reply(r) for r in reply]


def parse_score_reply(reply: Sequence[Any]) -> ScoreReply:
    status = as_text(reply[0])
    if status == "RATE_LIMITED":
        return ScoreReply(status, wait_ms=int(reply[1]))
    if status == "GATED":
        return ScoreReply(status, gate=int(reply[1]))
    if len(reply) < 3:
        return ScoreReply(status)
    now, n = int(reply[1]), int(reply[2])
    v = list(map(int, reply[3:]))
    if len(v) == 5 * n:  # recorded before competitions (a replay): every board took it
        return ScoreReply(status, now, tuple(
            BoardResult(v[i], v[i + 1], None if v[i + 2] < 0 else v[i + 2], v[i + 3], v[i + 4])
            for i in range(0, 5 * n, 5)))
    return ScoreReply(status, now, tuple(
        BoardResult(v[i], v[i + 1], None if v[i + 2] < 0 else v[i + 2], v[i + 3], v[i + 4],
                    v[i + 5], v[i + 6])
        for i in range(0, 7 * n, 7)))


@dataclass(frozen=True, slots=True)
class Admission:
    """admit.lua's answer: a reserved sequence (``reply`` None) with, per board, why it
    did not take the update (0: it did), the attempts left (-1: not limited) and the
    bucket (0: none); or a reply to give."""

    seq: int
    now: int
    reply: ScoreReply | None
    gates: tuple[tuple[int, int, int], ...] = ()


def parse_admission(reply: Sequence[Any]) -> Admission:
    if as_text(reply[0]) == "OK" and len(reply) >= 3 and (len(reply) - 3) % 3 == 0:
        v = [int(x) for x in reply[3:]]
        return Admission(int(reply[1]), int(reply[2]), None,
                         tuple((v[i], v[i + 1], v[i + 2]) for i in range(0, len(v), 3)))
    return Admission(0, 0, parse_score_reply(reply))


# ranks.lua ---------------------------------------------------------------------------
class RanksKeys(NamedTuple):
    scores: str
    member: str
    profiles: str
    meta: str


class RanksArgs(NamedTuple):
    mode: str  # 'range' (a, b: first and last position) or 'around' (a: user id, b: window)
    a: int | str
    b: int
    with_meta: str  # '1': each entry's metadata too


@dataclass(frozen=True, slots=True)
class RanksReply:
    total: int
    self_rank: int | None
    self_score: int | None
    first_rank: int
    # (user id, score, profile JSON or '', metadata JSON or '')
    rows: list[tuple[str, int, bytes | str, bytes | str]]


def parse_ranks(reply: Sequence[Any]) -> RanksReply:
    rank = int(reply[1])
    score = int(float(reply[2])) if reply[2] not in (b"", "") else None
    flat = reply[4:]
    rows = [(as_text(flat[i]), int(float(flat[i + 1])), flat[i + 2], flat[i + 3])
            for i in range(0, len(flat), 4)]
    return RanksReply(int(reply[0]), rank if rank > 0 else None, score, int(reply[3]), rows)


class MembersKeys(NamedTuple):
    scores: str
    member: str
    profiles: str
    meta: str


class MembersArgs(NamedTuple):
    uids: str  # comma-separated


@dataclass(frozen=True, slots=True)
class MembersReply:
    total: int
    # (user id, rank, stored score, profile, metadata)
    rows: list[tuple[str, int, int, bytes | str, bytes | str]]


def parse_members(reply: Sequence[Any]) -> MembersReply:
    flat = reply[1:]
    rows = [(as_text(flat[i]), int(flat[i + 1]), int(float(flat[i + 2])), flat[i + 3],
             flat[i + 4]) for i in range(0, len(flat), 5)]
    return MembersReply(int(reply[0]), rows)


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
    banned: str
    version: str


class BanBoardKeys(NamedTuple):
    scores: str
    member: str
    hidden: str
    boardseq: str


class BanArgs(NamedTuple):
    action: str  # 'ban' or 'unban'
    uid: str
    channel: str
    top_n: int
    version: int


class BanBoardArgs(NamedTuple):
    board: str
    season: int


class RenewLockKeys(NamedTuple):
    lock: str


class RenewLockArgs(NamedTuple):
    owner: str
    ttl_ms: int


# join.lua, bucket.lua (competitions) ---------------------------------------------------
class JoinKeys(NamedTuple):
    profiles: str
    banned: str
    revoked: str
    version: str


class JoinArgs(NamedTuple):
    uid: str
    writer: str
    version: int
    board: str
    season: int
    rules: str


@dataclass(frozen=True, slots=True)
class JoinReply:
    status: str  # OK, STALE, a refusal, or GATED with ``gate``
    players: int = 0
    seated: bool = False
    gate: int = 0


def parse_join(reply: Sequence[Any]) -> JoinReply:
    status = as_text(reply[0])
    if status == "OK":
        return JoinReply(status, int(reply[1]), bool(int(reply[2])))
    if status == "GATED":
        return JoinReply(status, gate=int(reply[1]))
    return JoinReply(status)


class BucketKeys(NamedTuple):
    scores: str
    member: str
    profiles: str
    meta: str


class BucketArgs(NamedTuple):
    board: str
    season: int
    rules: str
    mode: str  # 'bucket' (a: its number) or 'player' (a: a user id)
    a: int | str


@dataclass(frozen=True, slots=True)
class BucketReply:
    bucket: int  # 0: none (a player not placed, or no such bucket)
    tier: int  # -1: no such bucket; else an index into the league's tiers
    # (user id, stored score, profile JSON or '', metadata JSON or ''), by rank
    rows: list[tuple[str, int, bytes | str, bytes | str]]


def parse_bucket(reply: Sequence[Any]) -> BucketReply:
    flat = reply[2:]
    rows = [(as_text(flat[i]), int(float(flat[i + 1])), flat[i + 2], flat[i + 3])
            for i in range(0, len(flat), 4)]
    return BucketReply(int(reply[0]), int(reply[1]), rows)


class PromoteKeys(NamedTuple):
    tiers: str


class PromoteArgs(NamedTuple):
    board: str
    season: int
    rules: str
    first: int  # buckets first..last
    last: int


@dataclass(frozen=True, slots=True)
class PromoteReply:
    buckets: int  # how many the season has
    moved: list[tuple[str, int]]  # (user id, new tier)


def parse_promote(reply: Sequence[Any]) -> PromoteReply:
    flat = reply[1:]
    return PromoteReply(int(reply[0]), [(as_text(flat[i]), int(flat[i + 1]))
                                        for i in range(0, len(flat), 2)])


# detect.lua ------------------------------------------------------------------------
class DetectKeys(NamedTuple):
    events: str
    queue: str
    judge: str  # set: boards whose players' gains moved since they were last judged


class DetectArgs(NamedTuple):
    group: str
    consumer: str
    batch: int
    caps: str  # JSON: action -> its max_increment
    idle_s: int
    alpha: float
    cadence_min: int
    cadence_cv: float
    cap_min: int
    cap_share: float
    tau_s: float
    rate_z: float
    rate_min: int
    rate_every_ms: int
    jump_factor: float
    jump_min: int


Spec = tuple[type[tuple[Any, ...]], ...]

# name -> (keys, args), (keys, args, per-board keys, per-board args), or those and
# (per-update keys, per-update args): what the header test checks every lua/<name>.lua
# against
SPECS: dict[str, Spec] = {
    "update": (UpdateKeys, UpdateArgs, UpdateBoardKeys, UpdateBoardArgs, UpdateItemKeys,
               UpdateItemArgs),
    "admit": (AdmitKeys, AdmitArgs, AdmitBoardKeys, AdmitBoardArgs),
    "settle": (SettleKeys, SettleArgs, UpdateBoardKeys, SettleBoardArgs),
    "release": (ReleaseKeys, ReleaseArgs, ReleaseBoardKeys),
    "ranks": (RanksKeys, RanksArgs),
    "members": (MembersKeys, MembersArgs),
    "session": (SessionKeys, SessionArgs),
    "refresh": (RefreshKeys, RefreshArgs),
    "ban": (BanKeys, BanArgs, BanBoardKeys, BanBoardArgs),
    "renew_lock": (RenewLockKeys, RenewLockArgs),
    "detect": (DetectKeys, DetectArgs),
    "join": (JoinKeys, JoinArgs),
    "bucket": (BucketKeys, BucketArgs),
    "promote": (PromoteKeys, PromoteArgs),
}
