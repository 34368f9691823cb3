"""Response shapes, for the OpenAPI document (``openapi.py``); requests are in
``requests.py``."""

from __future__ import annotations

from marshmallow import Schema, fields


class SeedUpdateFields(Schema):
    user_id = fields.String(required=True)
    previous_score = fields.Integer(required=True)
    new_score = fields.Integer(required=True)
    rank_change = fields.Integer(required=True)
    current_rank = fields.Integer(required=True)
    previous_rank = fields.Integer(required=True, allow_none=True)


class BoardPlace(Schema):
    score = fields.Integer(required=True)
    rank = fields.Integer(required=True)
    previous_rank = fields.Integer(required=True, allow_none=True)
    rank_change = fields.Integer(required=True)
    season = fields.Integer(required=True)
    attempts_left = fields.Integer(metadata={"description": "where attempts are limited"})


class ScoreUpdateData(SeedUpdateFields):
    boards = fields.Dict(keys=fields.String(), values=fields.Nested(BoardPlace), required=True)


class ItemError(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)


class BatchResult(Schema):
    ok = fields.Boolean(required=True)
    data = fields.Nested(ScoreUpdateData)  # when ok
    error = fields.Nested(ItemError)  # when not


class BatchData(Schema):
    results = fields.List(fields.Nested(BatchResult), required=True)


class ServerKeyData(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    actions = fields.List(fields.String(), required=True, allow_none=True)
    created_at = fields.String(required=True)
    last_used_at = fields.String(required=True, allow_none=True)
    revoked_at = fields.String(required=True, allow_none=True)


class NewServerKeyData(ServerKeyData):
    key = fields.String(required=True, metadata={"description": "the secret, shown once"})


class ServerKeyList(Schema):
    keys = fields.List(fields.Nested(ServerKeyData), required=True)


class FlagData(Schema):
    id = fields.String(required=True)
    user_id = fields.String(required=True)
    username = fields.String(required=True)
    board = fields.String(required=True)
    detector = fields.String(required=True)
    value = fields.Float(required=True)
    threshold = fields.Float(required=True)
    evidence = fields.Dict(required=True)
    created_at = fields.String(required=True)
    status = fields.String(required=True)
    resolved_at = fields.String(required=True, allow_none=True)
    resolved_by = fields.String(required=True, allow_none=True)


class FlagList(Schema):
    flags = fields.List(fields.Nested(FlagData), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class EventData(Schema):
    at = fields.String(required=True)
    action_type = fields.String(required=True)
    value = fields.Integer(required=True)
    boards = fields.List(fields.String(), required=True)
    via = fields.String(required=True, metadata={"description": "player, or the server "
                                                                "key's id"})


class EventList(Schema):
    events = fields.List(fields.Nested(EventData), required=True)


class UserRow(Schema):
    id = fields.String(required=True)
    username = fields.String(required=True)
    avatar_url = fields.String(required=True, allow_none=True)
    banned = fields.Boolean(required=True)
    created_at = fields.String(required=True, allow_none=True)


class UserList(Schema):
    users = fields.List(fields.Nested(UserRow), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class AuditEntry(Schema):
    at = fields.String(required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    target = fields.String(required=True, allow_none=True)
    details = fields.Dict(required=True)


class AuditList(Schema):
    entries = fields.List(fields.Nested(AuditEntry), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class Summary(Schema):
    updates_per_s = fields.Float(required=True)
    watchers = fields.Integer(required=True)
    persist_waiting = fields.Integer(required=True)
    persist_lag_s = fields.Float(required=True)
    open_flags = fields.Integer(required=True)


class BoardScoreData(SeedUpdateFields):
    board = fields.String(required=True)
    season = fields.Integer(required=True)
    attempts_left = fields.Integer(metadata={"description": "where attempts are limited"})


class JoinData(Schema):
    board = fields.String(required=True)
    season = fields.Integer(required=True)
    joined = fields.Boolean(required=True)
    players = fields.Integer(required=True)


class LeagueDefinition(Schema):
    tiers = fields.List(fields.String(), required=True)
    bucket_size = fields.Integer(required=True)
    promote = fields.Integer(required=True)
    relegate = fields.Integer(required=True)


class LeaderboardEntry(Schema):
    rank = fields.Integer(required=True)
    user_id = fields.String(required=True)
    username = fields.String(required=True, allow_none=True)
    score = fields.Integer(required=True)
    avatar_url = fields.String(required=True, allow_none=True)


class BoardEntry(LeaderboardEntry):
    metadata = fields.Dict(required=True, allow_none=True,
                           metadata={"description": "the score's metadata (null: none)"})


class Top10Data(Schema):
    leaderboard = fields.List(fields.Nested(LeaderboardEntry), required=True)
    last_updated = fields.Integer(required=True)
    cache_ttl = fields.Integer(required=True)


class BoardTop10Data(Top10Data):
    leaderboard = fields.List(fields.Nested(BoardEntry), required=True)
    board = fields.String(required=True)
    season = fields.Integer(required=True)


class BoardDefinition(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    order = fields.String(required=True)
    operator = fields.String(required=True)
    actions = fields.List(fields.String(), required=True)
    reset = fields.String(required=True, allow_none=True)
    timezone = fields.String(required=True)
    authoritative = fields.Boolean(required=True)
    starts_at = fields.String(required=True, allow_none=True)
    ends_at = fields.String(required=True, allow_none=True)
    join_required = fields.Boolean(required=True)
    max_size = fields.Integer(required=True, allow_none=True)
    max_attempts = fields.Integer(required=True, allow_none=True)
    league = fields.Nested(LeagueDefinition, required=True, allow_none=True)
    season = fields.Integer(required=True)


class BoardDetail(BoardDefinition):
    status = fields.String(required=True, metadata={"enum": ["upcoming", "open", "ended"]})
    season_started_at = fields.String(required=True)
    next_reset_at = fields.String(required=True, allow_none=True)
    players = fields.Integer(required=True)


class BoardList(Schema):
    boards = fields.List(fields.Nested(BoardDefinition), required=True)


class SeasonWinner(Schema):
    user_id = fields.String(required=True)
    username = fields.String(required=True, allow_none=True)
    score = fields.Integer(required=True)


class SeasonEntry(Schema):
    season = fields.Integer(required=True)
    started_at = fields.String(required=True)
    ended_at = fields.String(required=True, allow_none=True)
    players = fields.Integer(required=True)
    winner = fields.Nested(SeasonWinner, required=True, allow_none=True)


class SeasonList(Schema):
    board = fields.String(required=True)
    seasons = fields.List(fields.Nested(SeasonEntry), required=True)
    next_cursor = fields.String(required=True, allow_none=True)  # null: the last page


class RanksData(Schema):
    board = fields.String(required=True)
    season = fields.Integer(required=True)
    leaderboard = fields.List(fields.Nested(BoardEntry), required=True)


class PageData(Schema):
    leaderboard = fields.List(fields.Nested(LeaderboardEntry), required=True)
    total = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)


class RankData(Schema):
    user_id = fields.String(required=True)
    username = fields.String(required=True, allow_none=True)
    score = fields.Integer(required=True)
    rank = fields.Integer(required=True)


class MeData(RankData):
    around = fields.List(fields.Nested(LeaderboardEntry), required=True)
    total = fields.Integer(required=True)


class BoardPageData(PageData):
    leaderboard = fields.List(fields.Nested(BoardEntry), required=True)


class BoardRankData(RankData):
    metadata = fields.Dict(required=True, allow_none=True)
    tier = fields.String(allow_none=True, metadata={"description": "league boards"})
    bucket = fields.Integer(allow_none=True, metadata={"description": "league boards"})
    bucket_rank = fields.Integer(allow_none=True, metadata={"description": "league boards"})


class BoardMeData(BoardRankData):
    around = fields.List(fields.Nested(BoardEntry), required=True,
                         metadata={"description": "on a league board: the whole bucket"})
    total = fields.Integer(required=True)


class BucketData(Schema):
    board = fields.String(required=True)
    season = fields.Integer(required=True)
    bucket = fields.Integer(required=True)
    tier = fields.String(required=True)
    leaderboard = fields.List(fields.Nested(BoardEntry), required=True)


class TokenData(Schema):
    token = fields.String(required=True)
    expires_in = fields.Integer(required=True)


class LoggedOutData(Schema):
    logged_out = fields.Boolean(required=True)


class UserData(Schema):
    id = fields.String(required=True)
    username = fields.String(required=True)
    email = fields.String(required=True)
    avatar_url = fields.String(required=True, allow_none=True)
    created_at = fields.String(required=True, allow_none=True)


class BanData(Schema):
    user_id = fields.String(required=True)
    banned = fields.Boolean(required=True)
    banned_at = fields.String(required=True, allow_none=True)


class StatusData(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    field_errors = fields.Dict(keys=fields.String(), data_key="fields")


class ErrorEnvelope(Schema):
    success = fields.Boolean(required=True)
    error = fields.Nested(ErrorBody, required=True)
