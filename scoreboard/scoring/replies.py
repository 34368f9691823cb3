"""What a score update answers: the outcome of an applied update, or the API error for a
script's refusal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import errors
from ..board.definitions import Board
from ..store import keys
from ..store.scripts import BoardResult, ScoreReply


def rank_change(r: BoardResult) -> int:
    return 0 if r.previous_rank is None else r.previous_rank - r.rank


@dataclass(slots=True)  # not frozen: built per update (see store/scripts.py, BoardResult)
class Outcome:
    user_id: str
    boards: tuple[Board, ...]
    results: tuple[BoardResult, ...]
    primary: int  # the index of the board whose fields the seed's shape shows
    timestamp: int
    replay: bool

    @property
    def main(self) -> BoardResult:
        return self.results[self.primary]

    @property
    def board_seq(self) -> int:
        return self.main.board_seq

    def seed_fields(self) -> dict[str, Any]:
        r = self.main
        return {
            "user_id": self.user_id,
            "previous_score": r.previous_score,
            "new_score": r.new_score,
            "rank_change": rank_change(r),
            "current_rank": r.rank,
            "previous_rank": r.previous_rank,
        }

    def as_data(self) -> dict[str, Any]:
        """POST /api/v1/scores/update: the seed's fields, plus every board that took it (a
        closed tournament, one not joined, full or out of attempts is left out)."""
        return {**self.seed_fields(), "boards": {
            b.id: _board_entry(b, r)
            for b, r in zip(self.boards, self.results, strict=True) if not r.gate}}

    def as_board_data(self) -> dict[str, Any]:
        """POST /api/v1/boards/{id}/scores: the seed's fields, plus the board and season
        (and the attempts left where they are limited)."""
        board = self.boards[self.primary]
        data = {**self.seed_fields(), "board": board.id, "season": board.season}
        if self.main.attempts_left >= 0:
            data["attempts_left"] = self.main.attempts_left
        return data


def _board_entry(b: Board, r: BoardResult) -> dict[str, Any]:
    entry = {"score": r.new_score, "rank": r.rank, "previous_rank": r.previous_rank,
             "rank_change": rank_change(r), "season": b.season}
    if r.attempts_left >= 0:
        entry["attempts_left"] = r.attempts_left
    return entry


def outcome(user_id: str, boards: list[Board], primary: Board, reply: ScoreReply) -> Outcome:
    if len(reply.boards) != len(boards):
        # a replay recorded before the boards this action feeds changed: its results are
        # by position, for boards that can no longer be named; the first stands for all
        boards = [primary] * len(reply.boards)
    index = next((i for i, b in enumerate(boards) if b is primary), 0)
    if reply.boards[index].gate:  # the primary did not take it: the first that did
        index = next((i for i, r in enumerate(reply.boards) if not r.gate), index)
    return Outcome(user_id, tuple(boards), reply.boards, index, reply.now,
                   reply.status == "REPLAY")


# why no board took an update (update.lua's GATES), on the first board it feeds
_GATED = {
    1: (errors.Conflict, "Board {!r} is not open now (upcoming or ended)"),
    2: (errors.Forbidden, "Join board {!r} first (POST /api/v1/boards/{{id}}/join)"),
    3: (errors.Conflict, "Board {!r} is full"),
    4: (errors.Conflict, "No attempts left on board {!r} this season"),
}


def refusal(reply: ScoreReply, action: str, by_key: bool = False,
            board: str = "") -> errors.ApiError:
    """The API error for a refusal status of the score scripts (``by_key``: a server
    key wrote for the player; ``board``: the first board the update feeds)."""
    if reply.status == "GATED":
        cls, text = _GATED.get(reply.gate, (errors.Conflict, "Board {!r} takes no scores now"))
        return cls(text.format(board))
    if reply.status == "FORBIDDEN":
        return errors.Forbidden("This player may not post scores")
    if reply.status == "NOT_FOUND":
        return errors.NotFound("No such player")
    if reply.status == "UNAUTHORIZED" and by_key:
        return errors.Unauthorized("This server key was revoked")
    if reply.status == "RATE_LIMITED":
        return errors.rate_limited(f"Rate limit for {action!r} reached", reply.wait_ms)
    if reply.status == "SCORE_LIMIT_EXCEEDED":
        return errors.ScoreLimitExceeded(f"Total would exceed {keys.MAX_TOTAL}")
    return errors.BY_CODE.get(reply.status, errors.ApiError)()
