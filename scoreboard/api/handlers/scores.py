from __future__ import annotations

from aiohttp import web
from multidict import istr

from ... import errors
from ...appkeys import CONFIG, SCORES
from ...obs import metrics
from ...scoring.limits import check_idempotency_key
from .. import envelope, requests, responses
from ..docs import BEARER, IDEMPOTENCY_PARAM, body, fails, ok, operation
from .common import claims_of

IDEMPOTENCY_KEY = istr("Idempotency-Key")


@operation(
    summary="Add an increment to the caller's score", security=BEARER,
    parameters=[IDEMPOTENCY_PARAM],
    requestBody=body(requests.UpdateScoreSchema),
    responses={**ok(responses.ScoreUpdateData),
               **fails(400, 401, 403, 409, 413, 415, 422, 429, 503)})
async def update_score(request: web.Request) -> web.Response:
    return await post_update(request)


async def post_update(request: web.Request, board_id: str | None = None) -> web.Response:
    """An update to every board its action feeds, or (``board_id``) to that board only."""
    action_type = "unknown"
    try:
        claims = claims_of(request)  # session, user and ban are checked inside the script
        action_type, increment = await requests.load_update(request)
        idem = check_idempotency_key(request.headers.get(IDEMPOTENCY_KEY))
        outcome = await request.app[SCORES].update(claims, action_type, increment, idem,
                                                   board_id)
    except errors.ApiError as exc:
        known = action_type if action_type in request.app[CONFIG].actions else "unknown"
        metrics.count_update(known, errors.outcome_of(exc.code))
        raise
    metrics.count_update(action_type, "replay" if outcome.replay else "accepted")
    headers = {"Idempotent-Replayed": "true"} if outcome.replay else None
    data = outcome.as_data() if board_id is None else outcome.as_board_data()
    return envelope.ok(data, timestamp=outcome.timestamp, headers=headers)
