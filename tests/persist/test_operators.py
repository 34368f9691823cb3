"""One operator table (scoreboard/operators.py) and every place that applies it: the
Lua of the live path (``next_score``), direct mode's settle.lua, the Python fold and
Worker 1's SQL. For every operator and order, submissions arriving in every order end
on the same score and tie sequence everywhere; on a real Redis and PostgreSQL."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.operators import OPERATORS
from scoreboard.persist.sql import Row, write_lines
from scoreboard.store import keys, scripts

SUBMISSIONS = (5, 7, 7, 3)  # values in sequence order 1..4 (an equal value: a tie on best)
KINDS = [(op, order) for op in OPERATORS for order in ("desc", "asc")]

LIVE = """
local b = {operator = ARGV[1], order = ARGV[2], sign = 1}
if b.order == 'asc' then b.sign = -1 end
local current, seq = nil, 0
for i = 3, #ARGV do
  local value = next_score(b, current, tonumber(ARGV[i]))
  if value ~= nil then current, seq = value, i - 2 end
end
return {current, seq}
"""


def folded(op: str, order: str, events: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The Python fold of (value, seq) events taken in the given order."""
    sign = -1 if order == "asc" else 1
    (value, seq), *rest = events
    row = Row(op, sign, value, seq, seq)
    for value, seq in rest:
        row.add(value, seq, seq, None)
    return row.score, row.seq


def states(op: str, order: str) -> list[tuple[int, int]]:
    """What direct mode commits after each submission: the standing (score, seq)."""
    events = tuple((v, i + 1) for i, v in enumerate(SUBMISSIONS))
    return [folded(op, order, events[:n]) for n in range(1, len(events) + 1)]


@pytest.mark.parametrize("op,order", KINDS)
async def test_the_live_lua_and_the_fold_follow_the_table(redis: Redis, op: str,
                                                          order: str) -> None:
    common = (scripts.LUA_DIR / "common.lua").read_text()
    live = await redis.eval(common + LIVE, 0, op, order, *SUBMISSIONS)
    live = (int(live[0]), int(live[1]))
    events = tuple((v, i + 1) for i, v in enumerate(SUBMISSIONS))
    for arrival in itertools.permutations(events):  # a batch claimed late: any order
        assert folded(op, order, arrival) == live, arrival
    # the table's own words, for this case
    rule = OPERATORS[op]
    if rule.adds:
        assert live == (sum(SUBMISSIONS), len(SUBMISSIONS))
    elif rule.keeps == "later":
        assert live == (SUBMISSIONS[-1], len(SUBMISSIONS))
    else:
        best = max(SUBMISSIONS) if order == "desc" else min(SUBMISSIONS)
        assert live == (best, SUBMISSIONS.index(best) + 1)  # the first to reach it


@pytest.mark.parametrize("op,order", KINDS)
async def test_settle_shows_the_newest_commit_in_any_order(redis: Redis, op: str,
                                                           order: str) -> None:
    """Direct mode: commits of one player may settle in Redis out of order; the board
    ends on the last commit's state whatever the order."""
    settle = scripts.load("settle", redis)
    final = states(op, order)[-1]
    for n, arrival in enumerate(itertools.permutations(states(op, order))):
        board, uid = f"t{n}", str(uuid.uuid4())
        k = keys.board_keys(board, 1)
        for score, reached in arrival:
            await settle(
                keys=scripts.with_boards(scripts.SettleKeys(idem=f"idem:{uid}"),
                                         [scripts.UpdateBoardKeys(k.scores, k.member,
                                                                  k.boardseq, k.meta)]),
                args=scripts.with_boards(
                    scripts.SettleArgs(uid=uid, use_idem="0", idem_ttl_s=60,
                                       channel="ops-test", top_n=10, now=1, body="",
                                       metadata="", seq=0),
                    [scripts.SettleBoardArgs(board, 1, op, order, score, reached)]))
        member = await redis.hget(k.member, uid)
        shown = int(await redis.zscore(k.scores, member)) * (-1 if order == "asc" else 1)
        assert (shown, keys.TIE_BASE - int(member[:15])) == final, (arrival, final)


@pytest.mark.parametrize("op,order", KINDS)
async def test_worker_1s_statement_follows_the_table(pool: asyncpg.Pool, op: str,
                                                     order: str) -> None:
    """The batch statement built from the table, fed the submissions in several
    arrival orders, split over two batches (the second moves the row the first made)."""
    board = f"{op}_{order}"
    await pool.execute("INSERT INTO boards (id, title, sort_order, operator)"
                       " VALUES ($1, $2, $3, $4)", board, board, order, op)
    expected = states(op, order)[-1]
    events = [(v, i + 1) for i, v in enumerate(SUBMISSIONS)]
    for arrival in list(itertools.permutations(events))[::5]:
        uid = uuid.uuid4()
        await pool.execute("INSERT INTO users (id, username, email) VALUES ($1, $2, $3)",
                           uid, uid.hex[:12], f"{uid.hex[:12]}@x.io")
        lines = [_line(uid, value, seq, f"{board}/1/{op}/{order}") for value, seq in arrival]
        async with pool.acquire() as conn:
            await write_lines(conn, lines[:2])
            await write_lines(conn, lines[2:])
        row: Any = await pool.fetchrow("SELECT score, reached_seq, version FROM board_scores"
                                       " WHERE board_id = $1 AND user_id = $2", board, uid)
        assert (row["score"], row["reached_seq"]) == expected, arrival
        assert row["version"] == len(SUBMISSIONS)


def _line(uid: uuid.UUID, value: int, seq: int, boards: str) -> bytes:
    fields = (f"{uid.hex[:8]}-{seq}", str(uid), "kill", value, seq,
              1_700_000_000_000 + seq, "\\N", "\\N", boards)
    return ("\t".join(str(f) for f in fields) + "\n").encode()
