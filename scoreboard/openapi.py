"""The OpenAPI 3 document, generated with apispec from the marshmallow schemas that
validate requests (and those that describe responses)."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from . import __version__, schemas

ERRORS = {
    400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED", 409: "IDEMPOTENCY_IN_PROGRESS or CONFLICT",
    413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
    422: "SCORE_LIMIT_EXCEEDED or IDEMPOTENCY_KEY_REUSED", 429: "RATE_LIMITED",
    500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE",
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
UUID_PARAM = {"name": "id", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}


def _int_query(name: str, lo: int, hi: int, default: int) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": lo, "maximum": hi, "default": default}}


def _ok(data: type[Schema] | None, status: int = 200) -> dict[str, Any]:
    props: dict[str, Any] = {"success": {"type": "boolean", "enum": [True]},
                             "timestamp": {"type": "integer"}}
    if data is not None:
        props["data"] = {"$ref": f"#/components/schemas/{data.__name__}"}
    body = {"type": "object", "properties": props, "required": list(props)}
    return {str(status): {"description": "OK", "content": {"application/json": {"schema": body}}}}


def _errors(*codes: int) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    return {str(c): {"description": ERRORS[c], "content": {"application/json": {"schema": ref}}}
            for c in (*codes, 405, 500)}


def _body(schema: type[Schema], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema.__name__}}}


PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/scores/update": {"post": {
        "summary": "Add an increment to the caller's score", "security": BEARER,
        "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
        "requestBody": _body(schemas.UpdateScoreSchema),
        "responses": {**_ok(schemas.ScoreUpdateData),
                      **_errors(400, 401, 403, 409, 413, 415, 422, 429, 503)}}},
    "/api/v1/leaderboard/top10": {"get": {
        "summary": "The cached top 10", "parameters": [],
        "responses": {**_ok(schemas.Top10Data), "304": {"description": "Not modified"},
                      **_errors(503)}}},
    "/api/v1/leaderboard": {"get": {
        "summary": "Any page of the board",
        "parameters": [_int_query("offset", 0, 10**9, 0), _int_query("limit", 1, 100, 10)],
        "responses": {**_ok(schemas.PageData), **_errors(400, 503)}}},
    "/api/v1/leaderboard/me": {"get": {
        "summary": "The caller's rank and neighbours", "security": BEARER,
        "parameters": [_int_query("window", 0, 50, 5)],
        "responses": {**_ok(schemas.MeData), **_errors(400, 401, 403, 404, 503)}}},
    "/api/v1/users/{id}/rank": {"get": {
        "summary": "One player's rank", "parameters": [UUID_PARAM],
        "responses": {**_ok(schemas.RankData), **_errors(400, 404, 503)}}},
    "/api/v1/auth/refresh": {"post": {
        "summary": "A fresh token; the old session ends", "security": BEARER,
        "requestBody": _body(schemas.EmptySchema, required=False),
        "responses": {**_ok(schemas.TokenData),
                      **_errors(400, 401, 403, 413, 415, 503)}}},
    "/api/v1/auth/logout": {"post": {
        "summary": "End the session", "security": BEARER,
        "requestBody": _body(schemas.EmptySchema, required=False),
        "responses": {**_ok(schemas.LoggedOutData), **_errors(400, 401, 413, 415, 503)}}},
    "/api/v1/admin/users": {"post": {
        "summary": "Create a player (admin)", "security": BEARER,
        "requestBody": _body(schemas.CreateUserSchema),
        "responses": {**_ok(schemas.UserData, 201),
                      **_errors(400, 401, 403, 409, 413, 415, 503)}}},
    "/api/v1/admin/users/{id}/ban": {"post": {
        "summary": "Hide a player from every ranking and refuse their updates (admin)",
        "security": BEARER, "parameters": [UUID_PARAM],
        "requestBody": _body(schemas.EmptySchema, required=False),
        "responses": {**_ok(schemas.BanData), **_errors(400, 401, 403, 404, 413, 415, 503)}}},
    "/api/v1/admin/users/{id}/unban": {"post": {
        "summary": "Restore a banned player (admin)", "security": BEARER,
        "parameters": [UUID_PARAM], "requestBody": _body(schemas.EmptySchema, required=False),
        "responses": {**_ok(schemas.BanData), **_errors(400, 401, 403, 404, 413, 415, 503)}}},
    "/ws/leaderboard": {"get": {
        "summary": "WebSocket: the top 10, pushed on every change (token in ?token=, "
                   "Authorization or the bearer.<token> subprotocol)",
        "parameters": [{"name": "token", "in": "query", "required": False,
                        "schema": {"type": "string"}}],
        "responses": {"101": {"description": "Switching Protocols"},
                      **_errors(400, 401, 403, 429)}}},
    "/healthz": {"get": {"summary": "Liveness", "responses": {**_ok(schemas.StatusData)}}},
    "/readyz": {"get": {"summary": "Readiness: Redis and PostgreSQL answer",
                        "responses": {**_ok(schemas.StatusData), **_errors(503)}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {
        "description": "Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}, **_errors()}}},
    "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {
        "description": "OpenAPI 3",
        "content": {"application/json": {"schema": {"type": "object"}}}}, **_errors()}}},
    "/": {"get": {"summary": "The live leaderboard page", "responses": {"200": {
        "description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
        **_errors()}}},
}


@cache
def document(actions: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document; with ``actions``, ``action_type`` lists this service's catalogue."""
    spec = APISpec(title="Scoreboard", version=__version__, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Live leaderboard service. Every JSON response is "
                         "the envelope {success, data, timestamp} or {success, error}."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                                "bearerFormat": "JWT"})
    for schema in (schemas.UpdateScoreSchema, schemas.CreateUserSchema, schemas.EmptySchema,
                   schemas.ScoreUpdateData, schemas.LeaderboardEntry, schemas.Top10Data,
                   schemas.PageData, schemas.RankData, schemas.MeData, schemas.TokenData,
                   schemas.LoggedOutData, schemas.UserData, schemas.BanData,
                   schemas.StatusData, schemas.ErrorEnvelope):
        spec.components.schema(schema.__name__, schema=schema)
    for path, operations in PATHS.items():
        spec.path(path=path, operations=operations)
    doc = spec.to_dict()
    if actions:
        props = doc["components"]["schemas"]["UpdateScoreSchema"]["properties"]
        props["action_type"]["enum"] = list(actions)
    return doc
