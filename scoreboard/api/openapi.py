"""The OpenAPI 3 document, generated with apispec from the marshmallow schemas that
validate requests (and those that describe responses)."""

from __future__ import annotations

from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from .. import __version__, errors
from . import requests, responses


def _codes_by_status() -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for entry in errors.REGISTRY.values():
        out.setdefault(entry.status, []).append(entry.code)
    return {status: " or ".join(codes) for status, codes in out.items()}


ERRORS = _codes_by_status()
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
        "requestBody": _body(requests.UpdateScoreSchema),
        "responses": {**_ok(responses.ScoreUpdateData),
                      **_errors(400, 401, 403, 409, 413, 415, 422, 429, 503)}}},
    "/api/v1/leaderboard/top10": {"get": {
        "summary": "The cached top 10", "parameters": [],
        "responses": {**_ok(responses.Top10Data), "304": {"description": "Not modified"},
                      **_errors(503)}}},
    "/api/v1/leaderboard": {"get": {
        "summary": "Any page of the board",
        "parameters": [_int_query("offset", 0, 10**9, 0), _int_query("limit", 1, 100, 10)],
        "responses": {**_ok(responses.PageData), **_errors(400, 503)}}},
    "/api/v1/leaderboard/me": {"get": {
        "summary": "The caller's rank and neighbours", "security": BEARER,
        "parameters": [_int_query("window", 0, 50, 5)],
        "responses": {**_ok(responses.MeData), **_errors(400, 401, 403, 404, 503)}}},
    "/api/v1/users/{id}/rank": {"get": {
        "summary": "One player's rank", "parameters": [UUID_PARAM],
        "responses": {**_ok(responses.RankData), **_errors(400, 404, 503)}}},
    "/api/v1/auth/refresh": {"post": {
        "summary": "A fresh token; the old session ends", "security": BEARER,
        "requestBody": _body(requests.EmptySchema, required=False),
        "responses": {**_ok(responses.TokenData),
                      **_errors(400, 401, 403, 413, 415, 503)}}},
    "/api/v1/auth/logout": {"post": {
        "summary": "End the session", "security": BEARER,
        "requestBody": _body(requests.EmptySchema, required=False),
        "responses": {**_ok(responses.LoggedOutData), **_errors(400, 401, 413, 415, 503)}}},
    "/api/v1/admin/users": {"post": {
        "summary": "Create a player (admin)", "security": BEARER,
        "requestBody": _body(requests.CreateUserSchema),
        "responses": {**_ok(responses.UserData, 201),
                      **_errors(400, 401, 403, 409, 413, 415, 503)}}},
    "/api/v1/admin/users/{id}/ban": {"post": {
        "summary": "Hide a player from every ranking and refuse their updates (admin)",
        "security": BEARER, "parameters": [UUID_PARAM],
        "requestBody": _body(requests.EmptySchema, required=False),
        "responses": {**_ok(responses.BanData), **_errors(400, 401, 403, 404, 413, 415, 503)}}},
    "/api/v1/admin/users/{id}/unban": {"post": {
        "summary": "Restore a banned player (admin)", "security": BEARER,
        "parameters": [UUID_PARAM], "requestBody": _body(requests.EmptySchema, required=False),
        "responses": {**_ok(responses.BanData), **_errors(400, 401, 403, 404, 413, 415, 503)}}},
    "/ws/leaderboard": {"get": {
        "summary": "WebSocket: the top 10, pushed on every change (token in ?token=, "
                   "Authorization or the bearer.<token> subprotocol)",
        "parameters": [{"name": "token", "in": "query", "required": False,
                        "schema": {"type": "string"}}],
        "responses": {"101": {"description": "Switching Protocols"},
                      **_errors(400, 401, 403, 429)}}},
    "/healthz": {"get": {"summary": "Liveness", "responses": {**_ok(responses.StatusData)}}},
    "/readyz": {"get": {"summary": "Readiness: Redis and PostgreSQL answer",
                        "responses": {**_ok(responses.StatusData), **_errors(503)}}},
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
    for schema in (requests.UpdateScoreSchema, requests.CreateUserSchema, requests.EmptySchema,
                   responses.ScoreUpdateData, responses.LeaderboardEntry, responses.Top10Data,
                   responses.PageData, responses.RankData, responses.MeData, responses.TokenData,
                   responses.LoggedOutData, responses.UserData, responses.BanData,
                   responses.StatusData, responses.ErrorEnvelope):
        spec.components.schema(schema.__name__, schema=schema)
    for path, operations in PATHS.items():
        spec.path(path=path, operations=operations)
    doc = spec.to_dict()
    if actions:
        props = doc["components"]["schemas"]["UpdateScoreSchema"]["properties"]
        props["action_type"]["enum"] = list(actions)
    return doc
