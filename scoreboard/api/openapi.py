"""The OpenAPI 3 document, generated with apispec from the operations the views carry
(``docs.operation``) and the marshmallow schemas that validate requests and
describe responses."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from .. import __version__
from . import docs, responses
from .routing import is_shortcut


def paths(routes: Iterable[web.AbstractRoute]) -> dict[str, dict[str, Any]]:
    """``{path: {method: operation}}`` for every route whose view documents itself."""
    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        spec = getattr(route.handler, docs.OPERATION, None)
        if (spec is None or route.method == "HEAD" or route.resource is None
                or is_shortcut(route.resource)):  # documented under its template
            continue
        out.setdefault(route.resource.canonical, {})[route.method.lower()] = spec
    return out


def document(routes: Iterable[web.AbstractRoute], actions: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document; with ``actions``, ``action_type`` lists this service's catalogue."""
    spec = APISpec(title="Scoreboard", version=__version__, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": "Live leaderboard service. Every JSON response is "
                         "the envelope {success, data, timestamp} or {success, error}."})
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer",
                                                "bearerFormat": "JWT"})
    spec.components.security_scheme("serverKey", {
        "type": "http", "scheme": "bearer", "bearerFormat": "sbk_<tag>_<secret>",
        "description": "A server key (POST /api/v1/admin/keys): game servers write scores "
                       "for players, naming each in `user_id`."})
    schemas = {**docs.SCHEMAS, "ErrorEnvelope": responses.ErrorEnvelope}
    for name in sorted(schemas):
        if name not in spec.components.schemas:  # else met nested in one before it
            spec.components.schema(name, schema=schemas[name])
    for path, operations in paths(routes).items():
        spec.path(path=path, operations=operations)
    doc = spec.to_dict()
    if actions:  # the update's action and a board's actions: this catalogue's names
        for name in ("UpdateScoreSchema", "KeyUpdateSchema", "BatchItemSchema"):
            props = doc["components"]["schemas"][name]["properties"]
            props["action_type"]["enum"] = list(actions)
        for name in ("BoardSchema", "BoardPatchSchema"):
            board = doc["components"]["schemas"][name]["properties"]
            board["actions"]["items"]["enum"] = list(actions)
    return doc


_served: weakref.WeakKeyDictionary[web.Application, bytes] = weakref.WeakKeyDictionary()


def served(app: web.Application, actions: tuple[str, ...]) -> bytes:
    """The document as one app serves it, built on first request: a running app's routes
    and catalogue do not change."""
    body = _served.get(app)
    if body is None:
        body = _served[app] = orjson.dumps(document(app.router.routes(), actions))
    return body
