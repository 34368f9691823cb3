from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import istr

from ... import errors
from ...appkeys import CONFIG, SCORES
from ...obs import metrics
from ...scoring.limits import check_idempotency_key
from ...scoring.replies import Outcome
from ...scoring.submission import Submission
from .. import envelope, requests, responses
from ..docs import (
    BEARER_OR_KEY,
    IDEMPOTENCY_PARAM,
    SERVER_KEY,
    either_body,
    fails,
    list_body,
    ok,
    operation,
)
from .common import writer_of

IDEMPOTENCY_KEY = istr("Idempotency-Key")


@operation(
    summary="Add an increment to the caller's score (a player's token), or to a player's "
            "(a server key, naming `user_id`)", security=BEARER_OR_KEY,
    parameters=[IDEMPOTENCY_PARAM],
    requestBody=either_body(requests.UpdateScoreSchema, requests.KeyUpdateSchema),
    responses={**ok(responses.ScoreUpdateData),
               **fails(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)})
async def update_score(request: web.Request) -> web.Response:
    return await post_update(request)


async def post_update(request: web.Request, board_id: str | None = None) -> web.Response:
    """An update to every board its action feeds, or (``board_id``) to that board only."""
    action_type = "unknown"
    try:
        writer, caller = await writer_of(request)  # session, user and ban are checked in the script
        update = await requests.load_update(request, by_key=writer.key is not None)
        action_type = update.action_type
        idem = check_idempotency_key(request.headers.get(IDEMPOTENCY_KEY))
        outcome = await request.app[SCORES].update(writer, Submission(
            update.user_id or caller, action_type, update.value, idem, update.metadata,
            board_id))
    except errors.ApiError as exc:
        count(request, action_type, exc)
        raise
    count(request, action_type, outcome)
    headers = {"Idempotent-Replayed": "true"} if outcome.replay else None
    data = outcome.as_data() if board_id is None else outcome.as_board_data()
    return envelope.ok(data, timestamp=outcome.timestamp, headers=headers)


def count(request: web.Request, action_type: str, result: Outcome | errors.ApiError) -> None:
    if isinstance(result, errors.ApiError):
        known = action_type if action_type in request.app[CONFIG].actions else "unknown"
        metrics.count_update(known, errors.outcome_of(result.code))
    else:
        metrics.count_update(action_type, "replay" if result.replay else "accepted")


def _item_error(exc: errors.ApiError) -> dict[str, Any]:
    message = exc.message
    if exc.fields:
        message += ": " + "; ".join(f"{name}: {' '.join(map(str, why))}"
                                    if isinstance(why, list) else f"{name}: {why}"
                                    for name, why in exc.fields.items())
    return {"ok": False, "error": {"code": exc.code, "message": message}}


@operation(
    summary="Apply up to 100 updates for players (a server key only), each as if posted "
            "alone", security=SERVER_KEY,
    requestBody=list_body("updates", requests.BatchItemSchema, 1, requests.MAX_BATCH),
    responses={**ok(responses.BatchData), **fails(400, 401, 403, 413, 415, 503)})
async def batch(request: web.Request) -> web.Response:
    writer, _ = await writer_of(request)
    if writer.key is None:
        raise errors.Forbidden("Batches are written with a server key")
    data = await requests.read_json(request, max_body=requests.MAX_BATCH_BODY)
    if not (type(data) is dict and data.keys() == {"updates"} and type(data["updates"]) is list
            and 1 <= len(data["updates"]) <= requests.MAX_BATCH):
        requests.validate_data(requests.BatchSchema, data)  # says what is wrong
    items = [requests.parse_item(item) for item in data["updates"]]
    subs = [Submission(i.user_id or "", i.action_type, i.value, i.idempotency_key, i.metadata)
            for i in items if isinstance(i, requests.Update)]
    applied = iter(await request.app[SCORES].update_many(writer, subs) if subs else [])
    results = []
    for item in items:
        if isinstance(item, requests.Update):
            result: Outcome | errors.ApiError = next(applied)
            count(request, item.action_type, result)
        else:
            result = item
            count(request, "unknown", result)
        if isinstance(result, errors.ApiError):
            results.append(_item_error(result))
        else:
            results.append({"ok": True, "data": result.as_data()})
    return envelope.ok({"results": results})
