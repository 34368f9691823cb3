"""What both clients share around a request: the headers, reading an answer, and the
retry rule (the loops themselves differ only in how they wait)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import httpx

from . import calls
from .errors import ScoreboardError, Unreachable, from_envelope
from .retry import RETRY_STATUSES, Retry, parse_retry_after

USER_AGENT = "scoreboard-client-python/0.1"
# no answer: a timeout, a refused, reset or cut connection (either client's)
RETRY_ERRORS = (httpx.TimeoutException, httpx.TransportError, aiohttp.ClientError,
                asyncio.TimeoutError)


def headers(token: str | None) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def request_args(call: calls.Call) -> dict[str, Any]:
    args: dict[str, Any] = {"headers": dict(call.headers)}
    if call.json is not None:
        args["json"] = call.json
    if call.params:
        args["params"] = call.params
    return args


def answer(status: int, content: bytes, retry_after: str | None) -> Any:
    """The envelope's ``data``, or the exception its error makes."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if status < 400 and isinstance(body, dict) and body.get("success") is True:
        return body.get("data")
    raise from_envelope(status, body, parse_retry_after(retry_after))


def wait_before_next(call: calls.Call, policy: Retry, attempt: int,
                     failure: BaseException) -> float | None:
    """How long to wait before trying ``call`` again after ``failure`` on try
    ``attempt``; None: give up (raise it)."""
    if attempt >= policy.tries:
        return None
    if isinstance(failure, ScoreboardError):
        if failure.status == 429:  # the rate says when: the same key then, too
            return policy.after(failure.retry_after, attempt)
        if failure.status in RETRY_STATUSES and call.retry:
            return policy.backoff(attempt)
        return None
    if isinstance(failure, RETRY_ERRORS) and call.retry:
        return policy.backoff(attempt)
    return None


def unreachable(failure: BaseException) -> ScoreboardError:
    if isinstance(failure, ScoreboardError):
        return failure
    return Unreachable(f"{type(failure).__name__}: {failure}")
