"""A board's operator: how a submission moves a player's score there, written once.

``incr`` adds every submission up. ``best`` and ``latest`` keep one submission: the
standing one is replaced by a submission that ``takes`` over from it: on ``best`` a
better value (higher on a ``desc`` board, lower on ``asc``) or an equal one reached
earlier, on ``latest`` a later one. Each rule gives the same result whatever order the
submissions arrive in, so a batch of events claimed late folds to the same totals.

Built from this table: the Python fold and the SQL of ``persist/sql.py`` (the upserts
of both modes and Worker 1's batch statement). The Lua twin, for the live path,
is ``next_score`` in ``store/lua/common.lua`` (submissions arrive there in sequence
order) and ``settle.lua``'s newer-state test; ``tests/persist/test_operators.py``
holds all of them to this table for every operator, order and arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    adds: bool  # every submission adds to the score
    keeps: str = ""  # else the submission that stands: "better" value or "later" one

    @property
    def by_sign(self) -> bool:
        """Whether the rule depends on the board's order."""
        return self.keeps == "better"

    def takes(self, value: int, seq: int, score: int, score_seq: int, sign: int) -> bool:
        """Does submission (``value``, ``seq``) replace the standing (``score``,
        ``score_seq``)? (Operators that keep one submission.)"""
        if self.keeps == "better":
            return value * sign > score * sign or (value == score and seq < score_seq)
        return seq > score_seq

    def takes_sql(self, new: str, old: str, sign: str) -> str:
        """``takes`` in SQL, between rows ``new`` and ``old`` (columns ``score`` and
        ``reached_seq``), ``sign`` an SQL expression."""
        if self.keeps == "better":
            return (f"({new}.score * {sign} > {old}.score * {sign} OR ({new}.score = "
                    f"{old}.score AND {new}.reached_seq < {old}.reached_seq))")
        return f"{new}.reached_seq > {old}.reached_seq"

    def standing_first(self) -> str:
        """SQL ORDER BY over one player's submissions (columns ``v``, ``seq``, ``sign``):
        the one that stands first."""
        return "v * sign DESC, seq" if self.keeps == "better" else "seq DESC"


INCR = Operator("incr", adds=True)
BEST = Operator("best", adds=False, keeps="better")
LATEST = Operator("latest", adds=False, keeps="later")
OPERATORS: dict[str, Operator] = {op.name: op for op in (INCR, BEST, LATEST)}
NAMES = tuple(OPERATORS)  # as a board's definition names them
