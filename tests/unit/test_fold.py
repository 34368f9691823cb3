"""How Worker 1 folds a batch of events into one row per board, season and player:
the same result whatever order the events come in (a claimed batch may come late)."""

from __future__ import annotations

import itertools

from scoreboard.persist.sql import fold, format_boards, parse_boards

BOARDS = "global/1/incr/desc,best/1/best/desc,laps/2/best/asc,last/1/latest/desc"
EVENTS = [(f"{i}-0", "u1", "a", value, seq, 1_000 * seq, None, f'{{"seq": {seq}}}', BOARDS)
          for i, (value, seq) in enumerate([(30, 1), (50, 2), (20, 3), (50, 4)])]


def test_each_operator() -> None:
    rows = fold(EVENTS)
    got = {board: (r.score, r.seq, r.n) for (board, _season, _u), r in rows.items()}
    assert got == {"global": (150, 4, 4), "best": (50, 2, 4), "laps": (20, 3, 4),
                   "last": (50, 4, 4)}
    assert {(b, s) for b, s, _ in rows} == {("global", 1), ("best", 1), ("laps", 2),
                                             ("last", 1)}
    # the metadata of the submission that counts: the latest on incr and latest boards,
    # the one that made the best score on best boards (the first of equal ones)
    meta = {board: r.metadata for (board, _season, _u), r in rows.items()}
    assert meta == {"global": '{"seq": 4}', "best": '{"seq": 2}', "laps": '{"seq": 3}',
                    "last": '{"seq": 4}'}


def test_order_does_not_matter() -> None:
    want = {k: (r.score, r.seq, r.metadata) for k, r in fold(EVENTS).items()}
    for perm in itertools.permutations(EVENTS):
        assert {k: (r.score, r.seq, r.metadata) for k, r in fold(list(perm)).items()} == want


def test_events_from_before_boards_are_global() -> None:
    rows = fold([("1-0", "u1", "a", 5, 1, 1000, None, None, None)])
    assert list(rows) == [("global", 1, "u1")]
    assert format_boards(parse_boards(BOARDS)) == BOARDS
