"""Strict request schemas: unknown fields raise, integers are integers (not bools, floats
or strings), NaN and Infinity never pass (orjson refuses them when parsing)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from aiohttp import hdrs, web
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .. import errors
from ..appkeys import CONFIG
from ..operators import NAMES

MAX_BODY = 64 * 1024
MAX_BATCH_BODY = 256 * 1024  # POST /api/v1/scores/batch: 100 updates with their metadata
MAX_BATCH = 100
MAX_METADATA = 1024  # bytes of a submission's metadata, serialized
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


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only (marshmallow's Boolean also takes 1, "yes", "on")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


def metadata_text(value: Any) -> str | None:
    """A submission's metadata as stored (a JSON object's text, '' for none), or None
    when it is not acceptable (MetadataField says why)."""
    if value is None:
        return ""
    if type(value) is not dict:
        return None
    text = orjson.dumps(value)
    if len(text) > MAX_METADATA or (b"\\u0000" in text and _NUL.search(text)):
        return None
    return text.decode()


# a NUL character as orjson writes it: \u0000 after an even number of backslashes (an
# odd number escapes the backslash: the text "\u0000" itself); PostgreSQL's jsonb
# cannot hold it
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class Metadata(fields.Field):
    """A JSON object of at most MAX_METADATA bytes serialized; loads as that text."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = metadata_text(value)
        if text is None:
            if not isinstance(value, dict):
                raise ValidationError("Must be a JSON object.")
            if len(orjson.dumps(value)) > MAX_METADATA:
                raise ValidationError(f"At most {MAX_METADATA} bytes serialized.")
            raise ValidationError("No NUL characters.")
        return text


class UpdateScoreSchema(Schema):
    action_type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    score_increment = StrictInteger(required=True, validate=validate.Range(min=1))
    metadata = Metadata(load_default=None, allow_none=True,
                        metadata={"type": "object", "nullable": True,
                                  "description": f"at most {MAX_METADATA} bytes serialized"})


class KeyUpdateSchema(UpdateScoreSchema):
    """An update a server key writes: it names the player."""

    user_id = fields.UUID(required=True)


class BatchItemSchema(KeyUpdateSchema):
    idempotency_key = fields.String(validate=[validate.Length(min=1, max=128),
                                              validate.Predicate("isprintable",
                                                                 error="Printable only.")])


class BatchSchema(Schema):
    """POST /api/v1/scores/batch; each item is checked on its own (BatchItemSchema)."""

    updates = fields.List(fields.Raw(metadata={"type": "object"}), required=True,
                          validate=validate.Length(min=1, max=MAX_BATCH))


USERNAME = r"^[A-Za-z0-9_.-]+$"  # shown in the OpenAPI document as its pattern


def _whole_name(value: str) -> None:
    """Python's ``$`` also matches before a final newline: the whole name must match."""
    if re.fullmatch(USERNAME[1:-1], value) is None:
        raise ValidationError("Letters, digits, _ . - only.")


class CreateUserSchema(Schema):
    username = fields.String(
        required=True,
        validate=[validate.Length(min=3, max=50),
                  validate.Regexp(USERNAME, error="Letters, digits, _ . - only."), _whole_name],
    )
    email = fields.Email(required=True, validate=validate.Length(max=100))
    avatar_url = fields.Url(schemes={"http", "https"}, load_default=None, allow_none=True,
                            validate=validate.Length(max=2000),
                            metadata={"format": "uri"})  # OpenAPI's name (apispec says "url")


_UNPRINTABLE = frozenset(("Cc", "Cs", "Zl", "Zp"))  # controls, lone surrogates, line breaks


def _printable(value: str) -> None:
    """A title is text to show on one line: no control characters (NUL, escapes, tabs)."""
    import unicodedata

    if any(unicodedata.category(c) in _UNPRINTABLE for c in value):
        raise ValidationError("Printable characters only (no control characters).")


TITLE: list[Callable[[Any], Any]] = [validate.Length(min=1, max=100), _printable]


def _cron(value: str | None) -> None:
    if value is None:
        return
    from ..board.schedule import trigger

    if len(value.split()) != 5:
        raise ValidationError("A 5-field cron expression: minute hour day month weekday.")
    try:
        trigger(value, "UTC")
    except ValueError as exc:
        raise ValidationError(f"Not a cron expression: {exc}.") from None


def _timezone(value: str) -> None:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Not an IANA time zone.") from None


def _board_id(value: str) -> None:
    if BOARD_ID.fullmatch(value) is None:
        raise ValidationError("1-64 of a-z 0-9 _ -, starting with a letter or digit.")


BOARD_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ACTIONS = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                       validate=validate.Length(min=1, max=100))


MAX_SIZE = 10_000_000  # players in a tournament's season
MAX_ATTEMPTS = 1_000_000
MAX_TIERS = 20


def _tier_names(value: list[str]) -> None:
    if len(set(value)) != len(value):
        raise ValidationError("Tier names must be unique.")


class LeagueSchema(Schema):
    """A league: tiers lowest first, the bucket size, how many move up and down."""

    tiers = fields.List(fields.String(validate=[validate.Length(min=1, max=32), _printable]),
                        required=True,
                        validate=[validate.Length(min=2, max=MAX_TIERS), _tier_names])
    bucket_size = StrictInteger(required=True, validate=validate.Range(min=2, max=1000))
    promote = StrictInteger(required=True, validate=validate.Range(min=0, max=1000))
    relegate = StrictInteger(required=True, validate=validate.Range(min=0, max=1000))

    @validates_schema
    def _zones(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["promote"] + data["relegate"] > data["bucket_size"]:
            raise ValidationError("promote + relegate must be at most bucket_size.")


def _instant() -> fields.AwareDateTime:
    return fields.AwareDateTime(allow_none=True, metadata={
        "description": "ISO 8601 with an offset; null: open-ended"})


class BoardPatchSchema(Schema):
    """PATCH /api/v1/admin/boards/{id}: any of these."""

    title = fields.String(validate=TITLE)
    order = fields.String(validate=validate.OneOf(("desc", "asc")))
    operator = fields.String(validate=validate.OneOf(NAMES))
    actions = _ACTIONS
    reset = fields.String(allow_none=True, validate=_cron)
    timezone = fields.String(validate=[validate.Length(max=64), _timezone])
    authoritative = StrictBoolean()
    starts_at = _instant()
    ends_at = _instant()
    join_required = StrictBoolean()
    max_size = StrictInteger(allow_none=True, validate=validate.Range(min=1, max=MAX_SIZE))
    max_attempts = StrictInteger(allow_none=True,
                                 validate=validate.Range(min=1, max=MAX_ATTEMPTS))
    league = fields.Nested(LeagueSchema, allow_none=True)


class BoardSchema(BoardPatchSchema):
    """POST /api/v1/admin/boards: a new board's definition."""

    id = fields.String(required=True, validate=_board_id)
    title = fields.String(required=True, validate=TITLE)
    actions = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                          required=True, validate=validate.Length(min=1, max=100))
    order = fields.String(load_default="desc", validate=validate.OneOf(("desc", "asc")))
    operator = fields.String(load_default="incr",
                             validate=validate.OneOf(NAMES))
    reset = fields.String(load_default=None, allow_none=True, validate=_cron)
    timezone = fields.String(load_default="UTC", validate=[validate.Length(max=64), _timezone])
    authoritative = StrictBoolean(load_default=False)
    starts_at = fields.AwareDateTime(load_default=None, allow_none=True)
    ends_at = fields.AwareDateTime(load_default=None, allow_none=True)
    join_required = StrictBoolean(load_default=False)
    max_size = StrictInteger(load_default=None, allow_none=True,
                             validate=validate.Range(min=1, max=MAX_SIZE))
    max_attempts = StrictInteger(load_default=None, allow_none=True,
                                 validate=validate.Range(min=1, max=MAX_ATTEMPTS))
    league = fields.Nested(LeagueSchema, load_default=None, allow_none=True)


class ServerKeySchema(Schema):
    """POST /api/v1/admin/keys."""

    name = fields.String(required=True, validate=TITLE)
    actions = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                          load_default=None, allow_none=True,
                          validate=validate.Length(min=1, max=100))


class JoinSchema(Schema):
    """POST /api/v1/boards/{id}/join with a server key: the player it joins."""

    user_id = fields.UUID(required=True)


class ResolveSchema(Schema):
    """POST /api/v1/admin/flags/{id}/resolve."""

    resolution = fields.String(required=True, validate=validate.OneOf(("dismiss", "ban")))


class EmptySchema(Schema):
    """For endpoints that take no body fields: an empty object or no body."""


_instances: dict[type[Schema], Schema] = {}


def schema(cls: type[S]) -> S:
    """Schemas are built once and reused (building one is the slow part)."""
    inst = _instances.get(cls)
    if inst is None:
        inst = _instances[cls] = cls()
    return inst  # type: ignore[return-value]


async def read_json(request: web.Request, *, allow_empty: bool = False,
                    max_body: int = MAX_BODY) -> Any:
    if request.content_length is not None and request.content_length > max_body:
        raise errors.PayloadTooLarge(f"Request body must be at most {max_body} bytes")
    if request.headers.get(hdrs.CONTENT_ENCODING, "identity").lower() != "identity":
        # the server does not inflate bodies (a small gzip can hold gigabytes of zeros)
        raise errors.UnsupportedMediaType("Compressed request bodies are not accepted")
    raw = await _read_body(request)
    if len(raw) > max_body:  # a chunked body (the app's client_max_size is the largest)
        raise errors.PayloadTooLarge(f"Request body must be at most {max_body} bytes")
    if not raw and allow_empty:
        return {}
    # the usual header as is; any other spelling (parameters, case) is parsed
    if (request.headers.get(hdrs.CONTENT_TYPE) != "application/json"
            and request.content_type != "application/json"):
        raise errors.UnsupportedMediaType()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.ValidationFailed(f"Malformed JSON: {exc}") from None


async def _read_body(request: web.Request) -> bytes:
    """The whole body (the app's client_max_size bounds chunked ones too), within
    HTTP_READ_TIMEOUT_S; a body that has all arrived, the usual case, is taken at once.
    A client that leaves mid-body is its own fault: a 400 nobody reads, never a 500."""
    try:
        if request.content.is_eof():
            return await request.read()
        async with asyncio.timeout(request.app[CONFIG].http_read_timeout_s):
            return await request.read()
    except TimeoutError:
        raise errors.RequestTimeout() from None
    except ConnectionResetError:
        raise errors.ValidationFailed("The request body ended early") from None


def validate_data(cls: type[Schema], data: Any) -> Any:
    if not isinstance(data, dict):
        raise errors.ValidationFailed("Request body must be a JSON object")
    try:
        return schema(cls).load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise errors.ValidationFailed(fields=_brief(messages)) from None


MAX_LISTED_FIELDS = 10


def _brief(messages: dict[str, Any]) -> dict[str, Any]:
    """At most MAX_LISTED_FIELDS fields, the schema's own first: a body of thousands of
    unknown fields gets a short answer, not one line per field."""
    if len(messages) <= MAX_LISTED_FIELDS:
        return messages
    known = sorted(messages, key=lambda name: messages[name] == ["Unknown field."])
    brief = {name[:64]: messages[name] for name in known[:MAX_LISTED_FIELDS]}
    brief["_schema"] = [f"{len(messages) - MAX_LISTED_FIELDS} more fields refused "
                        "(unknown fields are not accepted)."]
    return brief


async def load(request: web.Request, cls: type[Schema], *, allow_empty: bool = False) -> Any:
    return validate_data(cls, await read_json(request, allow_empty=allow_empty))


_UPDATE_FIELDS = frozenset(("action_type", "score_increment", "metadata"))
_KEY_UPDATE_FIELDS = _UPDATE_FIELDS | {"user_id"}
_ITEM_FIELDS = _KEY_UPDATE_FIELDS | {"idempotency_key"}


@dataclass(frozen=True, slots=True)
class Update:
    action_type: str
    value: int
    user_id: str | None  # named by a server key; None for a player's own update
    metadata: str  # a JSON object as text, '' for none
    idempotency_key: str | None = None  # a batch item's


def parse_update(data: Any, *, by_key: bool, item: bool = False) -> Update:
    """An update body (a server key's names its player; a batch ``item`` may carry its
    idempotency key).

    A body that is plainly valid (known fields only, a short string and a positive int
    that is not a bool, a canonical UUID, an object of metadata within its size) is
    taken as is; anything else goes through the schema, which either accepts it or
    says what is wrong. Both paths accept the same bodies (tests/api/test_scores.py
    and test_batch.py send every refusal).
    """
    allowed = _ITEM_FIELDS if item else _KEY_UPDATE_FIELDS if by_key else _UPDATE_FIELDS
    if type(data) is dict and data.keys() <= allowed:
        action, inc = data.get("action_type"), data.get("score_increment")
        if type(action) is str and 1 <= len(action) <= 64 and type(inc) is int and inc >= 1:
            uid = data.get("user_id")
            idem = data.get("idempotency_key")
            meta = metadata_text(data.get("metadata"))
            if (meta is not None
                    and (not by_key or (type(uid) is str and _CANONICAL_UUID.fullmatch(uid)))
                    and ("idempotency_key" not in data
                         or (type(idem) is str and 1 <= len(idem) <= 128
                             and idem.isprintable()))):
                return Update(action, inc, uid, meta, idem)
    cls = BatchItemSchema if item else KeyUpdateSchema if by_key else UpdateScoreSchema
    body = validate_data(cls, data)
    return Update(body["action_type"], body["score_increment"],
                  str(body["user_id"]) if by_key else None, body["metadata"] or "",
                  body.get("idempotency_key"))


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def load_update(request: web.Request, *, by_key: bool = False) -> Update:
    """The update body, on the hot path."""
    return parse_update(await read_json(request), by_key=by_key)


def parse_item(data: Any) -> Update | errors.ApiError:
    """A batch item, or the error that refuses it alone."""
    try:
        return parse_update(data, by_key=True, item=True)
    except errors.ApiError as exc:
        return exc
