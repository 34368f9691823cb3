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
FIELDS = ("id", "title", "order", "operator", "actions", "reset", "timezone", "authoritative")


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

    def feeds_on(self, action: str) -> bool:
        return self.actions is None or action in self.actions

    def public(self, catalogue: Iterable[str]) -> dict[str, Any]:
        """The definition as the API shows it (``actions`` spelled out for ``global``)."""
        actions = sorted(catalogue) if self.actions is None else list(self.actions)
        return {"id": self.id, "title": self.title, "order": self.order,
                "operator": self.operator, "actions": actions, "reset": self.reset,
                "timezone": self.timezone, "authoritative": self.authoritative,
                "season": self.season}

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    def with_changes(self, **changes: Any) -> Board:
        return replace(self, **changes)


def decode(raw: bytes | str) -> Board:
    data = orjson.loads(raw)
    actions = data.get("actions")
    data["actions"] = tuple(actions) if actions is not None else None
    return Board(**data)


def from_row(row: Any) -> Board:
    """A ``boards`` row of PostgreSQL."""
    started: datetime = row["season_started_at"]
    return Board(id=row["id"], title=row["title"], order=row["sort_order"],
                 operator=row["operator"],
                 actions=tuple(row["actions"]) if row["actions"] is not None else None,
                 reset=row["reset"], timezone=row["timezone"], season=row["season"],
                 season_started_at=int(started.timestamp() * 1000),
                 authoritative=row["authoritative"])


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()
