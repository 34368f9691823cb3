"""How a view documents itself: ``@operation(...)`` beside the view, built from the
helpers here; ``openapi.py`` gathers the operations from the app's routes. A new
endpoint is then its view and its route, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from marshmallow import Schema

from .. import errors

H = TypeVar("H", bound=Callable[..., Any])
OPERATION = "__openapi_operation__"
SCHEMAS: dict[str, type[Schema]] = {}  # every schema an operation names, by name

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
SERVER_KEY: list[dict[str, list[str]]] = [{"serverKey": []}]
BEARER_OR_KEY = BEARER + SERVER_KEY  # either one
UUID_PARAM = {"name": "id", "in": "path", "required": True,
              "schema": {"type": "string", "format": "uuid"}}


def _codes_by_status() -> dict[int, str]:
    out: dict[int, list[str]] = {}
    for entry in errors.REGISTRY.values():
        out.setdefault(entry.status, []).append(entry.code)
    return {status: " or ".join(codes) for status, codes in out.items()}


ERRORS = _codes_by_status()


def operation(**spec: Any) -> Callable[[H], H]:
    """Attach an OpenAPI operation (summary, parameters, requestBody, responses) to a view."""
    def mark(view: H) -> H:
        setattr(view, OPERATION, spec)
        return view

    return mark


def _named(schema: type[Schema]) -> str:
    SCHEMAS[schema.__name__] = schema
    return schema.__name__


# printable ASCII (the service takes any printable text; a header is ASCII in practice)
IDEMPOTENCY_PARAM = {"name": "Idempotency-Key", "in": "header", "required": False,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 128,
                                "pattern": "^[ -~]+$"}}
BOARD_ID_SCHEMA = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}


def int_query(name: str, lo: int, hi: int, default: int) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": lo, "maximum": hi, "default": default}}


def ok(data: type[Schema] | None, status: int = 200) -> dict[str, Any]:
    props: dict[str, Any] = {"success": {"type": "boolean", "enum": [True]},
                             "timestamp": {"type": "integer"}}
    if data is not None:
        props["data"] = {"$ref": f"#/components/schemas/{_named(data)}"}
    body = {"type": "object", "properties": props, "required": list(props)}
    return {str(status): {"description": "OK", "content": {"application/json": {"schema": body}}}}


def fails(*codes: int) -> dict[str, Any]:
    """The error responses: the given statuses, and 405 and 500, which any route can give."""
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    return {str(c): {"description": ERRORS[c], "content": {"application/json": {"schema": ref}}}
            for c in (*codes, 405, 500)}


def body(schema: type[Schema], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _named(schema)}}}


def ref(schema: type[Schema]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{_named(schema)}"}


def either_body(*schemas: type[Schema]) -> dict[str, Any]:
    """A body that is one of ``schemas`` (a player's update, or a server key's)."""
    return {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [ref(s) for s in schemas]}}}}


def list_body(name: str, item: type[Schema], lo: int, hi: int) -> dict[str, Any]:
    """A body ``{name: [item, ...]}`` of ``lo`` to ``hi`` items."""
    return {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": [name], "additionalProperties": False,
        "properties": {name: {"type": "array", "minItems": lo, "maxItems": hi,
                              "items": ref(item)}}}}}}


def content(media_type: str, description: str, kind: str = "string") -> dict[str, Any]:
    return {"200": {"description": description,
                    "content": {media_type: {"schema": {"type": kind}}}}}
