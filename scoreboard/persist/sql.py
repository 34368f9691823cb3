"""Every statement that writes scores to PostgreSQL, and the two ways they run:
a staged batch (Worker 1) and one update at a time (direct mode).

Both insert ``score_events`` rows ``ON CONFLICT DO NOTHING`` and move totals by
exactly what was inserted, in one transaction, so a replay counts nothing twice.
`global` keeps the seed's ``scores`` table; every other board has rows in
``board_scores`` per season. Each board's operator decides how an event moves its
row, and every rule gives the same result whatever order events arrive in (a
claimed batch may come late): incr adds, best keeps the better score (at equal
scores, the earlier sequence), latest keeps the later sequence. The rules are
``scoreboard/operators.py``'s table; the statements here are built from it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ..locks import LOCK_SEASONS_SHARED
from ..operators import OPERATORS
from ..store.keys import GLOBAL


@dataclass(frozen=True, slots=True)
class Fed:
    """One board an event fed, as the event names it."""

    board: str
    season: int
    operator: str
    order: str

    @property
    def sign(self) -> int:
        return -1 if self.order == "asc" else 1


GLOBAL_ONLY = (Fed(GLOBAL, 1, "incr", "desc"),)  # events from before boards


@functools.lru_cache(maxsize=1024)  # a few distinct fields carry every event
def parse_boards(field: str | None) -> tuple[Fed, ...]:
    """``id/season/operator/order,...`` as written by update.lua."""
    if not field:
        return GLOBAL_ONLY
    out = []
    for part in field.split(","):
        board, season, operator, order = part.split("/")
        out.append(Fed(board, int(season), operator, order))
    return tuple(out)


def format_boards(fed: Sequence[Fed]) -> str:
    return ",".join(f"{f.board}/{f.season}/{f.operator}/{f.order}" for f in fed)


STAGE = """
CREATE TEMP TABLE IF NOT EXISTS score_stage_v2 (
    id TEXT, user_id UUID, action_type TEXT, score_increment BIGINT, seq BIGINT,
    created_ms BIGINT, key_id UUID, metadata JSONB, boards TEXT
) ON COMMIT DELETE ROWS
"""
STAGE_COLUMNS = ["id", "user_id", "action_type", "score_increment", "seq", "created_ms",
                 "key_id", "metadata", "boards"]
INSERT_ONE = """
INSERT INTO score_events (id, user_id, action_type, score_increment, seq, created_at,
                          idempotency_key, boards, key_id, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT DO NOTHING
RETURNING id"""

_SET_GLOBAL = """
ON CONFLICT (user_id) DO UPDATE SET
    total_score = s.total_score + EXCLUDED.total_score,
    version = s.version + EXCLUDED.version,
    last_updated = GREATEST(s.last_updated, EXCLUDED.last_updated),
    metadata = CASE WHEN EXCLUDED.reached_seq > s.reached_seq THEN EXCLUDED.metadata
                    ELSE s.metadata END,
    reached_seq = GREATEST(s.reached_seq, EXCLUDED.reached_seq)"""
RAISE_GLOBAL = """
INSERT INTO scores AS s (user_id, total_score, last_updated, version, reached_seq, metadata)
SELECT u, inc, to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC', n, seq, m
FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[], $5::bigint[], $6::jsonb[])
    AS t(u, inc, at_ms, n, seq, m)""" + _SET_GLOBAL

_BOARD_INTO = """
INSERT INTO board_scores AS s (board_id, season, user_id, score, reached_seq, last_updated,
                               version, metadata)"""
# the metadata of a group's latest event (an adding operator keeps the latest
# submission's); a batch without metadata has none to pick
_LATEST_META = {True: "(array_agg({col} ORDER BY seq DESC))[1]", False: "NULL::jsonb"}


def _set_board(operator: str, sign: str) -> str:
    """How a board's row takes an upsert's folded row under ``operator`` (``sign``: 1 for
    a desc board, -1 for asc, as SQL): the table's rule (scoreboard/operators.py)."""
    head = """
ON CONFLICT (board_id, season, user_id) DO UPDATE SET version = s.version + EXCLUDED.version,"""
    op = OPERATORS[operator]
    if op.adds:
        return head + """
    score = s.score + EXCLUDED.score,
    reached_seq = GREATEST(s.reached_seq, EXCLUDED.reached_seq),
    metadata = CASE WHEN EXCLUDED.reached_seq > s.reached_seq THEN EXCLUDED.metadata
                    ELSE s.metadata END,
    last_updated = GREATEST(s.last_updated, EXCLUDED.last_updated)"""
    takes = op.takes_sql("EXCLUDED", "s", sign)
    return head + f"""
    score = CASE WHEN {takes} THEN EXCLUDED.score ELSE s.score END,
    reached_seq = CASE WHEN {takes} THEN EXCLUDED.reached_seq ELSE s.reached_seq END,
    metadata = CASE WHEN {takes} THEN EXCLUDED.metadata ELSE s.metadata END,
    last_updated = CASE WHEN {takes} THEN EXCLUDED.last_updated ELSE s.last_updated END"""


# direct mode: rows folded in Python, one statement per operator
RAISE_BOARD = {op: _BOARD_INTO + """
SELECT b, s, u, sc, seq, to_timestamp(at_ms / 1000.0), n, m
FROM unnest($1::text[], $2::int[], $3::uuid[], $4::bigint[], $5::bigint[], $6::bigint[],
            $7::int[], $8::jsonb[]) AS t(b, s, u, sc, seq, at_ms, n, m)"""
               + _set_board(op, "$9::int")
               for op in OPERATORS}

# the staged events that are new, into score_events; RETURNING lists what is folded
_INSERT_STAGED = """
    INSERT INTO score_events (id, user_id, action_type, score_increment, seq, created_at,
                              key_id, metadata, boards)
    SELECT id, user_id, action_type, score_increment, seq,
           to_timestamp(created_ms / 1000.0), key_id, metadata, boards
    FROM score_stage_v2
    ON CONFLICT (id) DO NOTHING
    RETURNING user_id, score_increment, seq, created_at, metadata"""

# Worker 1: the staged batch in one statement. It inserts the events that are new,
# and folds only those (RETURNING) per board, season and player, as fold() does, by
# the operators' table: an adding operator sums; one that keeps a submission takes
# the one that stands first (``standing_first``). Each board's row then moves as in
# direct mode (``_set_board``); a rule that depends on the order has one step per sign.
_PICK = """
SELECT DISTINCT ON (board, season, user_id) board, season, user_id, v, seq, at,
       count(*) OVER (PARTITION BY board, season, user_id) AS n, sign, m
FROM fed WHERE op = '{op}' AND board <> '{glob}'
ORDER BY board, season, user_id, {rank}"""


def _raise_steps(meta: bool) -> str:
    """The batch statement's steps that move board_scores, one operator at a time."""
    steps = []
    latest = _LATEST_META[meta].format(col="m")
    for op in OPERATORS.values():
        if op.adds:
            steps.append(f"""raise_{op.name} AS ({_BOARD_INTO}
    SELECT board, season, user_id, sum(v), max(seq), max(at), count(*), {latest}
    FROM fed WHERE op = '{op.name}' AND board <> '{GLOBAL}' GROUP BY board, season, user_id
    {_set_board(op.name, "1")}
)""")
            continue
        steps.append(f"""{op.name} AS ({_PICK.format(op=op.name, glob=GLOBAL,
                                                    rank=op.standing_first())}
)""")
        for sign in ((1, -1) if op.by_sign else (1,)):
            only = f" WHERE sign = {sign}" if op.by_sign else ""
            steps.append(f"""raise_{op.name}_{'asc' if sign < 0 else 'desc'} AS ({_BOARD_INTO}
    SELECT board, season, user_id, v, seq, at, n, m FROM {op.name}{only}
    {_set_board(op.name, str(sign))}
)""")
    return ", ".join(steps)


def _write_staged(meta: bool) -> str:
    latest = _LATEST_META[meta].format(col="m")
    return f"""
WITH fresh AS ({_INSERT_STAGED}, boards
), fed AS (
    SELECT f.user_id, f.score_increment AS v, f.seq, f.created_at AS at, f.metadata AS m,
           split_part(b, '/', 1) AS board, split_part(b, '/', 2)::int AS season,
           split_part(b, '/', 3) AS op,
           CASE split_part(b, '/', 4) WHEN 'asc' THEN -1 ELSE 1 END AS sign
    FROM fresh f,
         unnest(string_to_array(coalesce(nullif(f.boards, ''), '{GLOBAL}/1/incr/desc'), ','))
         AS b
), raise_global AS (
    INSERT INTO scores AS s (user_id, total_score, last_updated, version, reached_seq,
                             metadata)
    SELECT user_id, sum(v), max(at) AT TIME ZONE 'UTC', count(*), max(seq), {latest}
    FROM fed WHERE board = '{GLOBAL}' GROUP BY user_id{_SET_GLOBAL}
), {_raise_steps(meta)}
SELECT count(*) FROM fresh"""


# Worker 1: the staged batch in one statement (by whether any event has metadata)
WRITE_STAGED = {meta: _write_staged(meta) for meta in (True, False)}


# Worker 1, a batch whose every event fed `global` alone (the only board a service
# without boards has): WRITE_STAGED's result without splitting each event's boards
# field or scanning the folded rows once per operator. Timed alone on batches of 5000
# events into the service's tables, it took about four fifths of WRITE_STAGED's time.
def _write_staged_global(meta: bool) -> str:
    return f"""
WITH fresh AS ({_INSERT_STAGED}
), raise_global AS (
    INSERT INTO scores AS s (user_id, total_score, last_updated, version, reached_seq,
                             metadata)
    SELECT user_id, sum(score_increment), max(created_at) AT TIME ZONE 'UTC', count(*),
           max(seq), {_LATEST_META[meta].format(col="metadata")}
    FROM fresh GROUP BY user_id{_SET_GLOBAL}
)
SELECT count(*) FROM fresh"""


WRITE_STAGED_GLOBAL = {meta: _write_staged_global(meta) for meta in (True, False)}
# how a staging row that fed `global` alone ends: no boards field (events from before
# boards), an empty one, or `global`'s own
GLOBAL_ONLY_TAILS = (b"\t\\N\n", b"\t\n", f"\t{format_boards(GLOBAL_ONLY)}\n".encode())


def global_only(lines: Sequence[bytes]) -> bool:
    """Whether every staging row (``STAGE_COLUMNS``, boards last) fed `global` alone."""
    return all(line.endswith(GLOBAL_ONLY_TAILS) for line in lines)


def with_metadata(lines: Sequence[bytes]) -> bool:
    """Whether a staging row may carry metadata (a JSON object: a field starting ``{``;
    a false alarm only costs the general statement)."""
    return any(b"\t{" in line for line in lines)


@dataclass(slots=True)
class Row:
    """Events of one player on one board, folded by the board's operator (times in ms)."""

    operator: str
    sign: int
    score: int
    seq: int
    at: int
    metadata: str | None = None  # of the submission that counts (adding: the latest)
    n: int = 1

    def add(self, value: int, seq: int, at: int, metadata: str | None) -> None:
        """One more submission, by the operator's rule (scoreboard/operators.py)."""
        self.n += 1
        op = OPERATORS[self.operator]
        if op.adds:
            self.score += value
            if seq > self.seq:
                self.seq, self.metadata = seq, metadata
            if at > self.at:
                self.at = at
        elif op.takes(value, seq, self.score, self.seq, self.sign):
            self.score, self.seq, self.at, self.metadata = value, seq, at, metadata


def fold(records: Sequence[tuple[Any, ...]]) -> Folded:
    """Staged records (``STAGE_COLUMNS`` order) as one row per board, season and player."""
    rows: dict[tuple[str, int, str], Row] = {}
    for _id, user_id, _action, value, seq, at, _key, metadata, boards in records:
        for fed in parse_boards(boards):
            key = (fed.board, fed.season, user_id)
            row = rows.get(key)
            if row is None:
                rows[key] = Row(fed.operator, fed.sign, value, seq, at, metadata)
            else:
                row.add(value, seq, at, metadata)
    return rows


Folded = dict[tuple[str, int, str], Row]


async def _raise(conn: asyncpg.Connection, rows: Folded) -> None:
    """Move every board's totals by ``rows`` (the fold of events just inserted). User ids
    go to PostgreSQL as text, which it reads as uuid."""
    glob = [(u, r) for (b, _s, u), r in rows.items() if b == GLOBAL]
    if glob:
        await conn.execute(RAISE_GLOBAL, [u for u, _ in glob], [r.score for _, r in glob],
                           [r.at for _, r in glob], [r.n for _, r in glob],
                           [r.seq for _, r in glob], [r.metadata for _, r in glob])
    groups: dict[tuple[str, int], list[tuple[tuple[str, int, str], Row]]] = {}
    for key, row in rows.items():
        if key[0] != GLOBAL:
            groups.setdefault((row.operator, row.sign), []).append((key, row))
    for (operator, sign), part in groups.items():
        args: list[Any] = [[k[0] for k, _ in part], [k[1] for k, _ in part],
                           [k[2] for k, _ in part], [r.score for _, r in part],
                           [r.seq for _, r in part], [r.at for _, r in part],
                           [r.n for _, r in part], [r.metadata for _, r in part]]
        if OPERATORS[operator].by_sign:
            args.append(sign)
        await conn.execute(RAISE_BOARD[operator], *args)


async def write_lines(conn: asyncpg.Connection, lines: Sequence[bytes]) -> int:
    """One transaction: stage the events by COPY (``lines``: rows of COPY's text format
    in ``STAGE_COLUMNS`` order, distinct ids), insert what is new and move every board's
    totals by exactly that (``WRITE_STAGED``). Returns how many were new."""
    async with conn.transaction():
        await conn.execute(STAGE)
        # a memoryview: asyncpg takes bytes for a file's path
        await conn.copy_to_table("score_stage_v2", source=memoryview(b"".join(lines)),
                                 columns=STAGE_COLUMNS, format="text")
        statements = WRITE_STAGED_GLOBAL if global_only(lines) else WRITE_STAGED
        inserted: int = await conn.fetchval(statements[with_metadata(lines)])
    return inserted


async def standing(conn: Any, user_id: uuid.UUID, fed: Sequence[Fed]) -> list[tuple[int, int]]:
    """Each board's committed (score, tie sequence) of a player."""
    out = []
    for f in fed:
        if f.board == GLOBAL:
            row = await conn.fetchrow(
                "SELECT total_score AS score, reached_seq FROM scores WHERE user_id = $1",
                user_id)
        else:
            row = await conn.fetchrow(
                "SELECT score, reached_seq FROM board_scores"
                " WHERE board_id = $1 AND season = $2 AND user_id = $3", f.board, f.season,
                user_id)
        out.append((int(row["score"]), int(row["reached_seq"])) if row else (0, 0))
    return out


class BoardsMoved(Exception):
    """A board the caller meant to write to was retired: nothing was committed."""


@dataclass(frozen=True, slots=True)
class Event:
    """One accepted update, as direct mode commits it."""

    user_id: str
    action: str
    value: int
    seq: int
    at_ms: int
    idempotency_key: str | None = None
    key_id: str | None = None  # the server key that wrote it; None: the player's own token
    metadata: str | None = None  # a JSON object as text


async def commit_direct(pool: asyncpg.Pool, event: Event, fed: Sequence[Fed]
                        ) -> tuple[list[tuple[int, int]], bool, tuple[Fed, ...]]:
    """Direct mode: the event and every board's new score in one transaction.

    Boards with seasons (every one but `global`) are locked to share first, then their
    season is read: a season's end takes the same lock exclusively, so it waits for
    commits under way, and this one counts in the season it then finds (which may be
    newer than the caller's). Advisory locks, not row locks: many commits sharing a
    row lock would make PostgreSQL write multixacts on the board's row. Returns each
    board's committed (score, tie sequence), whether this call inserted the event
    (False: the same Idempotency-Key was committed before, and the scores are
    today's), and the boards with the seasons it counted in.
    """
    e = event
    uid = uuid.UUID(e.user_id)
    key_id = uuid.UUID(e.key_id) if e.key_id else None
    at = datetime.fromtimestamp(e.at_ms / 1000, tz=UTC)
    seasonal = [f.board for f in fed if f.board != GLOBAL]
    fed = tuple(fed)
    async with pool.acquire() as conn, conn.transaction():
        if seasonal:
            await conn.execute(LOCK_SEASONS_SHARED, seasonal)
            live = dict(await conn.fetch(
                "SELECT id, season FROM boards WHERE id = ANY($1::text[])"
                " AND retired_at IS NULL", seasonal))
            if len(live) < len(set(seasonal)):  # retired meanwhile (the retire held the lock)
                raise BoardsMoved(sorted(set(seasonal) - live.keys()))
            fed = tuple(Fed(f.board, live.get(f.board, f.season), f.operator, f.order)
                        for f in fed)
        boards = format_boards(fed)
        inserted = await conn.fetchval(INSERT_ONE, f"d-{uuid.uuid4().hex}", uid, e.action,
                                       e.value, e.seq, at, e.idempotency_key, boards, key_id,
                                       e.metadata)
        if inserted is not None:
            await _raise(conn, fold([(inserted, uid, e.action, e.value, e.seq, e.at_ms, key_id,
                                      e.metadata, boards)]))
        return await standing(conn, uid, fed), inserted is not None, fed
