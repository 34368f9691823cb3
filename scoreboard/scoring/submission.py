"""What a score update is before it is applied: who writes it, for which player, and
the plan the service makes of it (its action, the boards it feeds, its idempotency
body)."""

from __future__ import annotations

from dataclasses import dataclass

from ..actions import Action
from ..auth.tokens import Claims
from ..board.definitions import Board
from ..store import keys
from ..trust.keys import Grant


@dataclass(frozen=True, slots=True)
class Writer:
    """A player's own session, or a server key writing for players."""

    revoked: str  # the Redis key whose existence refuses the write (session or key)
    key: Grant | None = None

    @property
    def key_id(self) -> str:
        """The server key's id; '' for a player's own token."""
        return self.key.id if self.key is not None else ""

    @classmethod
    def player(cls, claims: Claims) -> Writer:
        return cls(keys.revoked_key(claims.jti))

    @classmethod
    def server(cls, grant: Grant) -> Writer:
        return cls(grant.revoked_key, grant)


@dataclass(frozen=True, slots=True)
class Submission:
    user_id: str
    action_type: str
    value: int
    idempotency_key: str | None = None
    metadata: str = ""  # a JSON object as text; '' for none
    board_id: str | None = None  # POST /api/v1/boards/{id}/scores: that board only


@dataclass(frozen=True, slots=True)
class Plan:
    """A submission that passed the checks made before Redis: its action and boards, and
    the body its Idempotency-Key is bound to."""

    sub: Submission
    action: Action
    boards: list[Board]
    body: str

    @property
    def use_idem(self) -> str:
        return "1" if self.sub.idempotency_key else "0"


def idempotency_body(sub: Submission) -> str:
    """What an Idempotency-Key is bound to: the same key on the other endpoint, or with
    another value or metadata, is another request."""
    body = f"{sub.action_type}:{sub.value}"
    if sub.board_id is not None:
        body = f"{sub.board_id}|{body}"
    if sub.metadata:
        body = f"{body}|{sub.metadata}"
    return body
