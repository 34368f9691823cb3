"""What a board is: its definition, as PostgreSQL keeps it, Redis mirrors it and the
API shows it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from .. import operators
from ..store import keys

GLOBAL = keys.GLOBAL
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ORDERS = ("desc", "asc")
OPERATORS = operators.NAMES
MAX_TITLE = 100
# the fields an admin may set on create; `order`/`operator` are fixed once there are scores
FIELDS = ("id", "title", "order", "operator", "actions", "reset", "timezone", "authoritative",
          "starts_at", "ends_at", "join_required", "max_size", "max_attempts", "league")
# the competition fields (DESIGN "Competitions"); fixed once a board has scores, but for
# `ends_at`, which may move later
COMPETITION = ("starts_at", "ends_at", "join_required", "max_size", "max_attempts", "league")


@dataclass(frozen=True, slots=True)
class League:
    """Tiers (lowest first) of buckets of ``bucket_size`` players; at a season's end the
    top ``promote`` of each bucket move up a tier, the bottom ``relegate`` down."""

    tiers: tuple[str, ...]
    bucket_size: int
    promote: int
    relegate: int

    def public(self) -> dict[str, Any]:
        return {"tiers": list(self.tiers), "bucket_size": self.bucket_size,
                "promote": self.promote, "relegate": self.relegate}

    @classmethod
    def of(cls, data: Any) -> League | None:
        if data is None:
            return None
        if isinstance(data, str | bytes):
            data = orjson.loads(data)
        return cls(tuple(data["tiers"]), int(data["bucket_size"]), int(data["promote"]),
                   int(data["relegate"]))


@dataclass(frozen=True, slots=True)
class Board:
    id: str
    title: str
    order: str = "desc"
    operator: str = "incr"
    actions: tuple[str, ...] | None = None  # None: every action of the catalogue
    reset: str | None = None
    timezone: str = "UTC"
    season: int = 1
    season_started_at: int = 0  # ms
    authoritative: bool = False  # takes scores from server keys only
    # competitions: a tournament's window (ms; None: open-ended), joining and limits
    starts_at: int | None = None
    ends_at: int | None = None
    join_required: bool = False
    max_size: int | None = None
    max_attempts: int | None = None
    league: League | None = None

    def __hash__(self) -> int:
        # equal boards share id and season; hashing every field on each use (the score
        # path's caches are keyed by board) cost more than the lookups it served
        return hash((self.id, self.season))

    @property
    def sign(self) -> int:
        """Scores are stored multiplied by this, so the best always ranks first."""
        return -1 if self.order == "asc" else 1

    @property
    def keys(self) -> keys.BoardKeys:
        return keys.board_keys(self.id, self.season)

    @property
    def competes(self) -> bool:
        """Does an update need the competition rules (update.lua's per-board ``rules``)?"""
        return (self.starts_at is not None or self.ends_at is not None or self.join_required
                or self.max_size is not None or self.max_attempts is not None
                or self.league is not None)

    def feeds_on(self, action: str) -> bool:
        return self.actions is None or action in self.actions

    def public(self, catalogue: Iterable[str]) -> dict[str, Any]:
        """The definition as the API shows it (``actions`` spelled out for ``global``)."""
        actions = sorted(catalogue) if self.actions is None else list(self.actions)
        return {"id": self.id, "title": self.title, "order": self.order,
                "operator": self.operator, "actions": actions, "reset": self.reset,
                "timezone": self.timezone, "authoritative": self.authoritative,
                "starts_at": iso_or_none(self.starts_at), "ends_at": iso_or_none(self.ends_at),
                "join_required": self.join_required, "max_size": self.max_size,
                "max_attempts": self.max_attempts,
                "league": self.league.public() if self.league is not None else None,
                "season": self.season}

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    def with_changes(self, **changes: Any) -> Board:
        return replace(self, **changes)


def decode(raw: bytes | str) -> Board:
    data = orjson.loads(raw)
    actions = data.get("actions")
    data["actions"] = tuple(actions) if actions is not None else None
    data["league"] = League.of(data.get("league"))
    return Board(**data)


def from_row(row: Any) -> Board:
    """A ``boards`` row of PostgreSQL."""
    started: datetime = row["season_started_at"]
    return Board(id=row["id"], title=row["title"], order=row["sort_order"],
                 operator=row["operator"],
                 actions=tuple(row["actions"]) if row["actions"] is not None else None,
                 reset=row["reset"], timezone=row["timezone"], season=row["season"],
                 season_started_at=int(started.timestamp() * 1000),
                 authoritative=row["authoritative"], starts_at=_ms(row["starts_at"]),
                 ends_at=_ms(row["ends_at"]), join_required=row["join_required"],
                 max_size=row["max_size"], max_attempts=row["max_attempts"],
                 league=League.of(row["league"]))


def _ms(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)
