"""The replies' ``data``, typed as the service's OpenAPI document states them."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class BoardPlace(TypedDict):
    score: int
    rank: int
    previous_rank: int | None
    rank_change: int
    season: int
    attempts_left: NotRequired[int]


class UpdateData(TypedDict):
    """POST /api/v1/scores/update (the seed's fields, plus every board that took it)."""

    user_id: str
    previous_score: int
    new_score: int
    rank_change: int
    current_rank: int
    previous_rank: int | None
    boards: dict[str, BoardPlace]


class BoardScoreData(TypedDict):
    user_id: str
    previous_score: int
    new_score: int
    rank_change: int
    current_rank: int
    previous_rank: int | None
    board: str
    season: int
    attempts_left: NotRequired[int]


class ItemError(TypedDict):
    code: str
    message: str


class BatchItem(TypedDict):
    ok: bool
    data: NotRequired[UpdateData]
    error: NotRequired[ItemError]


class Entry(TypedDict):
    rank: int
    user_id: str
    username: str | None
    score: int
    avatar_url: str | None
    metadata: NotRequired[dict[str, Any] | None]


class Top10Data(TypedDict):
    leaderboard: list[Entry]
    last_updated: int
    cache_ttl: int
    board: NotRequired[str]
    season: NotRequired[int]


class PageData(TypedDict):
    leaderboard: list[Entry]
    total: int
    offset: int
    limit: int


class RankData(TypedDict):
    user_id: str
    username: str | None
    score: int
    rank: int
    metadata: NotRequired[dict[str, Any] | None]
    tier: NotRequired[str | None]
    bucket: NotRequired[int | None]
    bucket_rank: NotRequired[int | None]


class MeData(RankData):
    around: list[Entry]
    total: int


class RanksData(TypedDict):
    board: str
    season: int
    leaderboard: list[Entry]


class League(TypedDict):
    tiers: list[str]
    bucket_size: int
    promote: int
    relegate: int


class Board(TypedDict):
    id: str
    title: str
    order: Literal["desc", "asc"]
    operator: Literal["incr", "best", "latest"]
    actions: list[str]
    reset: str | None
    timezone: str
    authoritative: bool
    starts_at: str | None
    ends_at: str | None
    join_required: bool
    max_size: int | None
    max_attempts: int | None
    league: League | None
    season: int


class BoardDetail(Board):
    status: Literal["upcoming", "open", "ended"]
    season_started_at: str
    next_reset_at: str | None
    players: int


class Winner(TypedDict):
    user_id: str
    username: str | None
    score: int


class Season(TypedDict):
    season: int
    started_at: str
    ended_at: str | None
    players: int
    winner: Winner | None


class SeasonList(TypedDict):
    board: str
    seasons: list[Season]
    next_cursor: str | None


class JoinData(TypedDict):
    board: str
    season: int
    joined: bool
    players: int


class BucketData(TypedDict):
    board: str
    season: int
    bucket: int
    tier: str
    leaderboard: list[Entry]


class User(TypedDict):
    id: str
    username: str
    email: str
    avatar_url: str | None
    created_at: str


class ServerKey(TypedDict):
    id: str
    name: str
    actions: list[str] | None
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    key: NotRequired[str]  # the secret: in the answer to its creation only


class WatchData(TypedDict):
    leaderboard: list[Entry]
    changes: list[dict[str, Any]]


class WatchMessage(TypedDict):
    """A message of ``watch``: a top 10 (``leaderboard_update``; ``seq`` only grows
    across what ``watch`` yields), or on a league board the watcher's own bucket
    (``bucket_update``)."""

    type: Literal["leaderboard_update", "bucket_update"]
    data: dict[str, Any]
    seq: NotRequired[int]
    board: str
    season: int
    timestamp: int
