"""Strict request schemas: unknown fields raise, integers are integers (not bools, floats
or strings), NaN and Infinity never pass (orjson refuses them when parsing)."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from marshmallow import Schema, ValidationError, fields, validate

from . import errors

MAX_BODY = 64 * 1024
S = TypeVar("S", bound=Schema)


class StrictInteger(fields.Integer):
    """An integer that refuses ``true``/``false`` (Python's bool is an int)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        result: int = super()._deserialize(value, attr, data, **kwargs)
        return result


class UpdateScoreSchema(Schema):
    action_type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    score_increment = StrictInteger(required=True, validate=validate.Range(min=1))


class CreateUserSchema(Schema):
    username = fields.String(
        required=True,
        validate=[validate.Length(min=3, max=50),
                  validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="Letters, digits, _ . - only.")],
    )
    email = fields.Email(required=True, validate=validate.Length(max=100))
    avatar_url = fields.Url(schemes={"http", "https"}, load_default=None, allow_none=True,
                            validate=validate.Length(max=2000))


class EmptySchema(Schema):
    """For endpoints that take no body fields: an empty object or no body."""


_instances: dict[type[Schema], Schema] = {}


def schema(cls: type[S]) -> S:
    """Schemas are built once and reused (building one is the slow part)."""
    inst = _instances.get(cls)
    if inst is None:
        inst = _instances[cls] = cls()
    return inst  # type: ignore[return-value]


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.PayloadTooLarge(f"Request body must be at most {MAX_BODY} bytes")
    raw = await request.read()  # the app's client_max_size bounds chunked bodies too
    if not raw and allow_empty:
        return {}
    if request.content_type != "application/json":
        raise errors.UnsupportedMediaType()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.ValidationFailed(f"Malformed JSON: {exc}") from None


async def load(request: web.Request, cls: type[Schema], *, allow_empty: bool = False) -> Any:
    data = await read_json(request, allow_empty=allow_empty)
    if not isinstance(data, dict):
        raise errors.ValidationFailed("Request body must be a JSON object")
    try:
        return schema(cls).load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise errors.ValidationFailed(fields=messages) from None
