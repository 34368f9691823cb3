"""Response shapes, for the OpenAPI document (``openapi.py``); requests are in
``requests.py``."""

from __future__ import annotations

from marshmallow import Schema, fields


class ScoreUpdateData(Schema):
    user_id = fields.String(required=True)
    previous_score = fields.Integer(required=True)
    new_score = fields.Integer(required=True)
    rank_change = fields.Integer(required=True)
    current_rank = fields.Integer(required=True)
    previous_rank = fields.Integer(required=True, allow_none=True)


class LeaderboardEntry(Schema):
    rank = fields.Integer(required=True)
    user_id = fields.String(required=True)
    username = fields.String(required=True, allow_none=True)
    score = fields.Integer(required=True)
    avatar_url = fields.String(required=True, allow_none=True)


class Top10Data(Schema):
    leaderboard = fields.List(fields.Nested(LeaderboardEntry), required=True)
    last_updated = fields.Integer(required=True)
    cache_ttl = fields.Integer(required=True)


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
