from __future__ import annotations

from aiohttp import web

from ... import errors
from ...appkeys import CONFIG, SCORES
from ...obs import metrics
from ...scoring.limits import check_idempotency_key
from .. import envelope, requests
from .common import claims_of


async def update_score(request: web.Request) -> web.Response:
    action_type = "unknown"
    try:
        claims = claims_of(request)  # session, user and ban are checked inside the script
        action_type, increment = await requests.load_update(request)
        idem = check_idempotency_key(request.headers.get("Idempotency-Key"))
        outcome = await request.app[SCORES].update(claims, action_type, increment, idem)
    except errors.ApiError as exc:
        known = action_type if action_type in request.app[CONFIG].actions else "unknown"
        metrics.count_update(known, errors.outcome_of(exc.code))
        raise
    metrics.count_update(action_type, "replay" if outcome.replay else "accepted")
    headers = {"Idempotent-Replayed": "true"} if outcome.replay else None
    return envelope.ok(outcome.as_data(), timestamp=outcome.timestamp, headers=headers)
