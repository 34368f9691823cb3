"""Worker 1's statement folds a batch in PostgreSQL (WRITE_STAGED); direct mode folds in
Python (fold) and moves each board's row by the same rules. Fed the same events, in the
same two steps, both must leave every board's rows the same, metadata included."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import asyncpg

from scoreboard.persist.sql import (
    STAGE,
    STAGE_COLUMNS,
    WRITE_STAGED,
    _raise,
    fold,
    global_only,
    write_lines,
)

BOARDS = "global/1/incr/desc,tot/1/incr/asc,hi/2/best/desc,lap/1/best/asc,now/3/latest/desc"


KEY = str(uuid.uuid4())


def _meta(seq: int) -> str | None:
    """Some submissions carry metadata, some none (which clears it on incr boards)."""
    return None if seq % 3 == 0 else json.dumps({"seq": seq, "car": "red\tone"})


def _events(uid: uuid.UUID, first: int) -> list[tuple[Any, ...]]:
    rng = random.Random(first)
    out = []
    for seq in range(first, first + 40):
        value = rng.choice([5, 7, 7, 9, 3])  # repeats: ties under best
        out.append((f"{uid.hex[:6]}-{seq}", str(uid), "kill", value, seq,
                    1_700_000_000_000 + rng.randrange(10**6), KEY if seq % 2 else None,
                    _meta(seq), BOARDS))
    rng.shuffle(out)  # a claimed batch may come out of order
    return out


def _copy(field: Any) -> str:
    if field is None:
        return "\\N"
    return (str(field).replace("\\", "\\\\").replace("\t", "\\t")
            .replace("\n", "\\n"))


def _line(event: tuple[Any, ...]) -> bytes:
    return ("\t".join(_copy(f) if i >= 6 else str(f) for i, f in enumerate(event))
            + "\n").encode()


async def _rows(conn: asyncpg.Connection, uid: uuid.UUID) -> dict[str, tuple[int, ...]]:
    rows = {r["board_id"]: (r["season"], r["score"], r["reached_seq"], r["version"],
                            r["last_updated"], r["metadata"])
            for r in await conn.fetch("SELECT * FROM board_scores WHERE user_id = $1", uid)}
    g = await conn.fetchrow("SELECT * FROM scores WHERE user_id = $1", uid)
    rows["global"] = (1, g["total_score"], g["reached_seq"], g["version"],
                      g["last_updated"].replace(tzinfo=None), g["metadata"])
    return rows


async def test_the_batch_statement_folds_as_direct_mode(pool: asyncpg.Pool) -> None:
    for board, order, op in (("tot", "asc", "incr"), ("hi", "desc", "best"),
                             ("lap", "asc", "best"), ("now", "desc", "latest")):
        await pool.execute("INSERT INTO boards (id, title, sort_order, operator)"
                           " VALUES ($1, $2, $3, $4)", board, board, order, op)
    batch, direct = uuid.uuid4(), uuid.uuid4()
    for uid in (batch, direct):
        await pool.execute("INSERT INTO users (id, username, email) VALUES ($1, $2, $3)",
                           uid, uid.hex[:12], f"{uid.hex[:12]}@x.io")
    async with pool.acquire() as conn:
        for first in (1, 100):  # the second step moves rows the first one made
            events = _events(batch, first)
            assert await write_lines(conn, [_line(e) for e in events]) == len(events)
            assert await write_lines(conn, [_line(e) for e in events]) == 0  # a replay
            twins = [(f"d{e[0]}", str(direct), *e[2:]) for e in events]
            async with conn.transaction():
                await _raise(conn, fold(twins))
        got, want = await _rows(conn, batch), await _rows(conn, direct)
    assert got == want
    assert got["global"][1:4] == (sum(e[3] for f in (1, 100) for e in _events(batch, f)),
                                  139, 80)
    assert got["hi"][1] == 9 and got["lap"][1] == 3 and got["now"][2] == 139
    # the metadata of the score that counts: the latest submission's on incr and latest
    # boards (139 is a multiple of neither 3... nor is 138: 138 % 3 == 0 has none)
    assert json.loads(got["global"][5]) == {"seq": 139, "car": "red\tone"}
    assert json.loads(got["now"][5])["seq"] == 139
    # best boards keep the metadata of the submission that made the best score
    for board in ("hi", "lap"):
        seq = got[board][2]
        assert (got[board][5] is None) == (seq % 3 == 0)
        if seq % 3:
            assert json.loads(got[board][5])["seq"] == seq
    async with pool.acquire() as conn:
        keys = await conn.fetch("SELECT seq, key_id FROM score_events WHERE user_id = $1",
                                batch)
    assert {r["seq"]: r["key_id"] is not None for r in keys} == {
        r["seq"]: bool(r["seq"] % 2) for r in keys}


async def test_a_batch_that_fed_global_alone_moves_totals_as_the_full_statement(
        pool: asyncpg.Pool) -> None:
    # three ways an event says it fed `global` alone: no boards field, an empty one,
    # and global's own; write_lines takes WRITE_STAGED_GLOBAL for them
    fast, full = uuid.uuid4(), uuid.uuid4()
    for uid in (fast, full):
        await pool.execute("INSERT INTO users (id, username, email) VALUES ($1, $2, $3)",
                           uid, uid.hex[:12], f"{uid.hex[:12]}@x.io")

    def lines(uid: uuid.UUID, first: int) -> list[bytes]:
        tails = [None, "", "global/1/incr/desc"]
        return [_line((f"{uid.hex[:6]}-{seq}", str(uid), "kill", seq % 7 + 1, seq,
                       1_700_000_000_000 + seq * 1000 - first, None, _meta(seq),
                       tails[seq % 3]))
                for seq in range(first, first + 30)]

    async with pool.acquire() as conn:
        for first in (1, 100):
            mine = lines(fast, first)
            assert global_only(mine)
            assert await write_lines(conn, mine) == 30
            assert await write_lines(conn, mine) == 0  # a replay
            async with conn.transaction():
                await conn.execute(STAGE)
                await conn.copy_to_table("score_stage_v2", source=memoryview(
                    b"".join(lines(full, first))), columns=STAGE_COLUMNS, format="text")
                assert await conn.fetchval(WRITE_STAGED[True]) == 30
        got, want = await _rows(conn, fast), await _rows(conn, full)
    assert got == want
    assert got["global"][1:4] == (sum(s % 7 + 1 for f in (1, 100) for s in range(f, f + 30)),
                                  129, 60)


def test_a_batch_feeding_any_other_board_takes_the_full_statement() -> None:
    event = ("1-1", str(uuid.uuid4()), "kill", 5, 1, 1_700_000_000_000, None, None)
    alone = [_line((*event, "global/1/incr/desc")), _line((*event, None))]
    assert global_only(alone)
    for boards in ("global/1/incr/desc,tot/1/incr/asc", "tot/1/incr/asc", "global/2/incr/desc",
                   "global/1/best/desc"):
        assert not global_only([*alone, _line((*event, boards))])
