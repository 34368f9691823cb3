"""Worker 1's statement folds a batch in PostgreSQL (WRITE_STAGED); direct mode folds in
Python (fold) and moves each board's row by the same rules. Fed the same events, in the
same two steps, both must leave every board's rows the same."""

from __future__ import annotations

import random
import uuid

import asyncpg

from scoreboard.persist.sql import _raise, fold, write_lines

BOARDS = "global/1/incr/desc,tot/1/incr/asc,hi/2/best/desc,lap/1/best/asc,now/3/latest/desc"


def _events(uid: uuid.UUID, first: int) -> list[tuple[str, str, str, int, int, int, str]]:
    rng = random.Random(first)
    out = []
    for seq in range(first, first + 40):
        value = rng.choice([5, 7, 7, 9, 3])  # repeats: ties under best
        out.append((f"{uid.hex[:6]}-{seq}", str(uid), "kill", value, seq,
                    1_700_000_000_000 + rng.randrange(10**6), BOARDS))
    rng.shuffle(out)  # a claimed batch may come out of order
    return out


def _line(event: tuple[str, str, str, int, int, int, str]) -> bytes:
    return ("\t".join(str(f) for f in event) + "\n").encode()


async def _rows(conn: asyncpg.Connection, uid: uuid.UUID) -> dict[str, tuple[int, ...]]:
    rows = {r["board_id"]: (r["season"], r["score"], r["reached_seq"], r["version"],
                            r["last_updated"])
            for r in await conn.fetch("SELECT * FROM board_scores WHERE user_id = $1", uid)}
    g = await conn.fetchrow("SELECT * FROM scores WHERE user_id = $1", uid)
    rows["global"] = (1, g["total_score"], g["reached_seq"], g["version"],
                      g["last_updated"].replace(tzinfo=None))
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
