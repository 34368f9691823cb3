"""Creating, changing and retiring boards (admin), each recorded in ``admin_audit``.

PostgreSQL is written first, under a row lock, and Redis's copy is changed before
the COMMIT: if Redis refuses, nothing changed; two admins changing one board
reach Redis in the order they reach PostgreSQL. Each change bumps
``{lb}:boards:version`` (so every process's next write sees it) and tells every
process on Pub/Sub.

Limits (DESIGN "Limits"), checked under one advisory lock so two admins can't both
take the last place: at most ``boards_max`` live boards, at most
``BOARDS_PER_ACTION`` boards fed by one action, a schedule that fires within the
next 366 days in the board's own zone.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from .. import errors
from ..locks import LOCK_BOARDS, LOCK_SEASON
from ..players.moderation import audit
from ..store import keys
from ..store.client import RedisClient
from ..store.events import encode_boards
from .definitions import COMPETITION, GLOBAL, Board, from_row
from .registry import RECORD_ENDED, Boards, store
from .schedule import check_fires_soon

BOARDS_MAX = 1000  # live boards, `global` included (BOARDS_MAX)
BOARDS_PER_ACTION = 20  # boards fed by one action, `global` included

_INSERT = """
INSERT INTO boards (id, title, sort_order, operator, actions, reset, timezone, authoritative,
                    starts_at, ends_at, join_required, max_size, max_attempts, league)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)
ON CONFLICT (id) DO NOTHING
RETURNING *"""
_LIVE_COUNT = "SELECT count(*) FROM boards WHERE retired_at IS NULL AND id <> $1"
# the actions of $1 that already feed BOARDS_PER_ACTION live boards other than $2
_CROWDED = f"""
SELECT a.action FROM unnest($1::text[]) AS a(action)
JOIN boards b ON b.retired_at IS NULL AND b.id <> $2
             AND (b.actions IS NULL OR a.action = ANY(b.actions))
GROUP BY a.action HAVING count(*) >= {BOARDS_PER_ACTION} ORDER BY a.action"""
_COLUMNS = {"title": "title", "order": "sort_order", "operator": "operator",
            "actions": "actions", "reset": "reset", "timezone": "timezone",
            "authoritative": "authoritative", "starts_at": "starts_at", "ends_at": "ends_at",
            "join_required": "join_required", "max_size": "max_size",
            "max_attempts": "max_attempts", "league": "league"}


def _refuse(field: str, message: str) -> errors.ValidationFailed:
    return errors.ValidationFailed(fields={field: [message]})


def check_competition(merged: dict[str, Any], changed: Collection[str],
                      now: datetime) -> None:
    """400 for a definition whose competition fields do not fit together (``merged``: the
    definition as it would be; ``changed``: the fields this request sets)."""
    starts, ends = merged.get("starts_at"), merged.get("ends_at")
    if starts is not None and ends is not None and ends <= starts:
        raise _refuse("ends_at", "Must be after starts_at.")
    if "ends_at" in changed and ends is not None and ends <= now and not merged.get("reset"):
        raise _refuse("ends_at", "Must be in the future (or the window recur: `reset`).")
    if merged.get("reset") and ends is not None and starts is None:
        raise _refuse("starts_at", "A tournament with a reset schedule needs starts_at "
                                   "(each window lasts ends_at - starts_at).")
    league = merged.get("league")
    if league is not None:
        if not merged.get("reset"):
            raise _refuse("league", "A league needs a reset schedule (its seasons).")
        mixed = [f for f in ("starts_at", "ends_at", "max_size") if merged.get(f) is not None]
        if mixed:
            raise _refuse("league", f"A league has no {' or '.join(mixed)} (buckets size it).")


def _db_value(field: str, value: Any) -> Any:
    if isinstance(value, datetime):  # instants are kept to the millisecond, as Redis's
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return orjson.dumps(value).decode() if field == "league" and value is not None else value


class BoardAdmin:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, boards: Boards,
                 catalogue: Collection[str], *, boards_max: int = BOARDS_MAX) -> None:
        self.pool = pool
        self.redis = redis
        self.boards = boards
        self.catalogue = catalogue
        self.boards_max = boards_max

    def _check_actions(self, actions: list[str] | None) -> None:
        unknown = sorted(set(actions or ()) - set(self.catalogue))
        if unknown:
            raise errors.ValidationFailed(fields={"actions": [
                f"Not in the action catalogue: {', '.join(unknown)}."]})

    @staticmethod
    def _check_schedule(reset: str | None, timezone: str) -> None:
        if reset is None:
            return
        try:
            check_fires_soon(reset, timezone, datetime.now(UTC))
        except ValueError as exc:
            raise errors.ValidationFailed(fields={"reset": [f"{str(exc).capitalize()}."]}) \
                from None

    async def _check_limits(self, conn: asyncpg.Connection, board_id: str,
                            actions: list[str] | None, *, new: bool) -> None:
        """409 when the board would pass a limit. Holds the boards' lock to the COMMIT."""
        await conn.execute(LOCK_BOARDS)
        if new and await conn.fetchval(_LIVE_COUNT, board_id) + 1 > self.boards_max:
            raise errors.Conflict(f"At most {self.boards_max} live boards (BOARDS_MAX)")
        fed = list(self.catalogue) if actions is None else actions
        crowded = [r["action"] for r in await conn.fetch(_CROWDED, fed, board_id)]
        if crowded:
            raise errors.Conflict(f"At most {BOARDS_PER_ACTION} boards per action; already "
                                  f"at it: {', '.join(crowded)}")

    async def _publish(self, board: Board, *, retired: bool = False) -> str | None:
        cut_id = await store(self.redis, board, retired=retired)
        # apart from the MULTI: the channel is not under {lb} (one slot in a cluster)
        await self.redis.publish(keys.CHANNEL, encode_boards(board.id))
        return cut_id

    async def create(self, actor_id: str, data: dict[str, Any]) -> Board:
        self._check_actions(data["actions"])
        self._check_schedule(data["reset"], data["timezone"])
        check_competition(data, [f for f in COMPETITION if data.get(f) is not None],
                          datetime.now(UTC))
        async with self.pool.acquire() as conn, conn.transaction():
            await self._check_limits(conn, data["id"], data["actions"], new=True)
            row = await conn.fetchrow(_INSERT, data["id"], data["title"], data["order"],
                                      data["operator"], data["actions"], data["reset"],
                                      data["timezone"], data.get("authoritative", False),
                                      _db_value("starts_at", data.get("starts_at")),
                                      _db_value("ends_at", data.get("ends_at")),
                                      data.get("join_required", False), data.get("max_size"),
                                      data.get("max_attempts"),
                                      _db_value("league", data.get("league")))
            if row is None:
                raise errors.Conflict(f"Board {data['id']!r} exists (or existed: ids of "
                                      "retired boards are not reused)")
            board = from_row(row)
            await audit(conn, actor_id, "create_board", None, {"board": board.id,
                                                               **_audited(data)})
            await self._publish(board)
        await self.boards.load()
        return board

    async def _has_scores(self, board: Board) -> bool:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(board.keys.scores)
            pipe.zcard(board.keys.hidden)
            return sum(await pipe.execute()) > 0

    async def change(self, actor_id: str, board_id: str, data: dict[str, Any]) -> Board:
        if "actions" in data:
            self._check_actions(data["actions"])
        async with self.pool.acquire() as conn, conn.transaction():
            if "actions" in data:
                await self._check_limits(conn, board_id, data["actions"], new=False)
            row = await conn.fetchrow(
                "SELECT * FROM boards WHERE id = $1 AND retired_at IS NULL FOR UPDATE", board_id)
            if row is None:
                raise errors.NotFound(f"No board {board_id!r}")
            board = from_row(row)
            if board_id == GLOBAL and data.get("reset") is not None:
                raise errors.Conflict("`global` has no reset schedule")
            rules: set[str] = {f for f in ("order", "operator") if f in data and
                     data[f] != getattr(board, f)}
            if rules and board_id == GLOBAL:
                raise errors.Conflict("`global` is always desc and incr (the seed's board)")
            if "reset" in data or "timezone" in data:
                self._check_schedule(data.get("reset", board.reset),
                                     data.get("timezone", board.timezone))
            competing = {f for f in COMPETITION if f in data}
            if competing and board_id == GLOBAL:
                raise errors.Conflict("`global` is no tournament or league")
            if competing:
                check_competition({**_competition_fields(row), "reset": board.reset,
                                   **data}, competing, datetime.now(UTC))
                # ends_at may move later; the rest of a competition is fixed once it has
                # scores (or past seasons)
                if not (competing == {"ends_at"} and _later(row["ends_at"], data["ends_at"])):
                    rules |= {f for f in competing if data[f] != _competition_fields(row)[f]}
            if rules and (board.season > 1 or await self._has_scores(board)):
                raise errors.Conflict(f"{' and '.join(sorted(rules))} cannot change while "
                                      "the board has scores (or past seasons)")
            if data:
                sets = ", ".join(f"{_COLUMNS[f]} = ${i}" for i, f in enumerate(data, start=2))
                row = await conn.fetchrow(f"UPDATE boards SET {sets} WHERE id = $1 RETURNING *",
                                          board_id,
                                          *(_db_value(f, v) for f, v in data.items()))
            changed = from_row(row)
            await audit(conn, actor_id, "change_board", None,
                        {"board": board_id, **_audited(data)})
            await self._publish(changed)
        await self.boards.load()
        return changed

    async def retire(self, actor_id: str, board_id: str) -> Board:
        if board_id == GLOBAL:
            raise errors.Conflict("`global` cannot be deleted")
        async with self.pool.acquire() as conn, conn.transaction():
            # as a season's end: after the direct-mode commits under way (seasons.py)
            await conn.execute(LOCK_SEASON, board_id)
            row = await conn.fetchrow(
                "UPDATE boards SET retired_at = now() WHERE id = $1 AND retired_at IS NULL"
                " RETURNING *", board_id)
            if row is None:
                raise errors.NotFound(f"No board {board_id!r}")
            board = from_row(row)
            await audit(conn, actor_id, "retire_board", None, {"board": board_id})
            cut_id = await self._publish(board, retired=True)
            # its last season ends here: archived like any other, so it stays readable
            await conn.execute(RECORD_ENDED, board_id, board.season, row["season_started_at"],
                               row["retired_at"], cut_id)
        await self.boards.load()
        return board


def _competition_fields(row: Any) -> dict[str, Any]:
    """A board row's competition fields as a request states them."""
    league = row["league"]
    return {"starts_at": row["starts_at"], "ends_at": row["ends_at"],
            "join_required": row["join_required"], "max_size": row["max_size"],
            "max_attempts": row["max_attempts"],
            "league": orjson.loads(league) if league is not None else None}


def _later(old: datetime | None, new: datetime | None) -> bool:
    """Does ``new`` keep the tournament open longer than ``old``?"""
    return old is not None and (new is None or new > old)


def _audited(data: dict[str, Any]) -> dict[str, Any]:
    """A request's fields as the audit log's JSON holds them (instants as ISO 8601)."""
    return {f: v.isoformat() if isinstance(v, datetime) else v for f, v in data.items()}
