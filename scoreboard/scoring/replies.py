"""What a score update answers: the outcome of an applied increment, or the API
error for a script's refusal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import errors
from ..store import keys
from ..store.scripts import ScoreReply


@dataclass(frozen=True, slots=True)
class Outcome:
    user_id: str
    previous_score: int
    new_score: int
    previous_rank: int | None
    current_rank: int
    timestamp: int
    board_seq: int
    replay: bool

    def as_data(self) -> dict[str, Any]:
        prev = self.previous_rank
        return {
            "user_id": self.user_id,
            "previous_score": self.previous_score,
            "new_score": self.new_score,
            "rank_change": 0 if prev is None else prev - self.current_rank,
            "current_rank": self.current_rank,
            "previous_rank": prev,
        }


def outcome(user_id: str, reply: ScoreReply) -> Outcome:
    return Outcome(user_id, reply.previous_score, reply.new_score, reply.previous_rank,
                   reply.rank, reply.now, reply.board_seq, reply.status == "REPLAY")


def refusal(reply: ScoreReply, action: str) -> errors.ApiError:
    """The API error for a refusal status of the score scripts."""
    if reply.status == "FORBIDDEN":
        return errors.Forbidden("This player may not post scores")
    if reply.status == "RATE_LIMITED":
        return errors.rate_limited(f"Rate limit for {action!r} reached", reply.wait_ms)
    if reply.status == "SCORE_LIMIT_EXCEEDED":
        return errors.ScoreLimitExceeded(f"Total would exceed {keys.MAX_TOTAL}")
    return errors.BY_CODE.get(reply.status, errors.ApiError)()
