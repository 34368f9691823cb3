"""Redis key names and the sorted-set member encoding (the tie order)."""

from __future__ import annotations

import functools
from typing import NamedTuple

# Keys one script touches share the {lb} hash tag, so they live in one cluster slot.
SCORES = "{lb}:scores"  # sorted set: tie-encoded member -> total
MEMBER = "{lb}:member"  # hash: user id -> its current member in SCORES
HIDDEN = "{lb}:hidden"  # sorted set: banned players' members, kept for unban
SEQ = "{lb}:seq"  # counter: board-wide order in which totals were reached
BOARDSEQ = "{lb}:boardseq"  # counter: grows with every change of the top 10
EVENTS = "{lb}:events"  # stream: accepted increments on their way to PostgreSQL
DEAD = "{lb}:events:dead"  # stream: events that failed to persist again and again
PROFILES = "{lb}:profiles"  # hash: user id -> {"username", "avatar_url"} JSON
BANNED = "{lb}:banned"  # set: banned user ids
META = "{lb}:meta"  # hash: user id -> metadata of `global`'s score (other boards: BoardKeys)
TOP10 = "leaderboard:top10"  # the seed's cache key: JSON array of the top 10
TOP10_LOCK = "leaderboard:top10:lock"
CHANNEL = "leaderboard_updates"  # the seed's Pub/Sub channel
PERSIST_GROUP = "persist"
DETECT_GROUP = "detect"  # the anomaly detectors' own consumer group on EVENTS
FLAG_QUEUE = "{lb}:flags:new"  # list: flags raised, on their way to PostgreSQL
FLAG_DRAIN_LOCK = "{lb}:flags:drain"  # one process at a time moves them
RATE_JUDGE = "{lb}:det:judge"  # set: boards whose gains moved since last judged


def flag_marker(detector: str, board: str, user_id: str) -> str:
    """Exists while that flag is open (detect.lua writes it; a resolve deletes it)."""
    return f"{{lb}}:flag:open:{detector}:{board}:{user_id}"
PERSIST_FENCE = "{lb}:persist:fence"  # Worker 1 writes it before a WAIT covering its read
PG_SERVER = "{lb}:pg:server"  # the PostgreSQL server the stream was last persisted to
SERVER_KEYS = "{lb}:serverkeys"  # hash: SHA-256 (hex) of a key's secret -> its grant (JSON)
SERVER_KEYS_VERSION = "{lb}:serverkeys:version"  # counter: grows with every change of it
DEPLOYMENT = "{lb}:deployment"  # the deployment's tag, which its server keys carry
MAX_TOTAL = 2**53 - 1
TOP_N = 10


def revoked_key(jti: str) -> str:
    return f"{{lb}}:revoked:{jti}"


def key_revoked_key(key_id: str) -> str:
    """Exists once server key ``key_id`` is revoked (never expires): the score scripts
    refuse a revoked key's writes atomically, whatever a process's cache says."""
    return f"{{lb}}:revoked:sbk:{key_id}"


def rate_key(user_id: str, action: str) -> str:
    return f"{{lb}}:rl:{user_id}:{action}"


def refresh_rate_key(user_id: str) -> str:
    return f"{{lb}}:rl-refresh:{user_id}"  # apart from the actions' rate keys


def idem_key(user_id: str, key: str | None, server_key: str | None = None) -> str:
    """Idempotency is per player, and per server key when one writes for the player."""
    if server_key is not None:
        return f"{{lb}}:idem:{user_id}:k{server_key}:{key or '-'}"
    return f"{{lb}}:idem:{user_id}:{key or '-'}"


TIE_BASE = 999_999_999_999_999  # as in lua/common.lua


def member_for(seq: int, user_id: str) -> str:
    """The sorted-set member of a total reached at board sequence ``seq``."""
    return f"{TIE_BASE - seq:015d}:{user_id}"


def parse_member(member: bytes | str) -> str:
    """The user id inside a tie-encoded member ``<inverted seq>:<user id>``."""
    text = member.decode() if isinstance(member, bytes) else member
    return text.split(":", 1)[1]


RESEED_SCORES = "{lb}:reseed:scores"  # scoreboard reseed builds the board aside here,
RESEED_MEMBER = "{lb}:reseed:member"  # then swaps it in
RESEED_META = "{lb}:reseed:meta"

# Boards. `global` is the seed's board and keeps the seed's key names above.
GLOBAL = "global"
BOARDS = "{lb}:boards"  # hash: live board id -> its definition (JSON)
BOARDS_VERSION = "{lb}:boards:version"  # counter: grows with every change of BOARDS


class BoardKeys(NamedTuple):
    scores: str
    member: str
    hidden: str
    boardseq: str
    top10: str
    meta: str  # hash: user id -> the metadata (JSON) of the score that counts


@functools.lru_cache(maxsize=1024)
def board_keys(board_id: str, season: int = 1) -> BoardKeys:
    """The keys of one board's season (all under ``{lb}``: one script may touch several).
    Each season has its own sorted set, so a new season starts empty at once and the
    last one stays whole until PostgreSQL holds it; the board sequence runs on across
    seasons. Season 1 keeps the names boards had before seasons."""
    if board_id == GLOBAL:
        return BoardKeys(SCORES, MEMBER, HIDDEN, BOARDSEQ, TOP10, META)
    p = f"{{lb}}:b:{board_id}"
    s = p if season == 1 else f"{p}:s{season}"
    return BoardKeys(f"{s}:scores", f"{s}:member", f"{s}:hidden", f"{p}:seq", f"{s}:top10",
                     f"{s}:meta")


def season_key(board_id: str, season: int, name: str) -> str:
    """One of a board season's competition keys (``joined``, ``attempts``, ``placed``,
    ``league``, ``bk:<n>``), named beside its board keys as common.lua names them."""
    return f"{board_keys(board_id, season).scores.removesuffix(':scores')}:{name}"


def league_watched(board_id: str) -> str:
    """Exists while some process has watchers of league board ``board_id``: only then
    does update.lua announce its buckets' changes (WATCHED_TTL_S, refreshed)."""
    return f"{{lb}}:b:{board_id}:watched"
