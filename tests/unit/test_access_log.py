"""The access log at the default level writes only the requests worth a look."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Response

from scoreboard.obs.logs import ACCESS, SLOW_REQUEST_S, AccessLogger, note_if_unusual


@pytest.mark.parametrize(("level", "status", "seconds", "logged"), [
    (logging.INFO, 200, 0.01, False),
    (logging.INFO, 404, 0.01, False),
    (logging.INFO, 503, 0.01, True),
    (logging.INFO, 200, SLOW_REQUEST_S + 0.1, True),
    (logging.INFO, 101, SLOW_REQUEST_S + 60, False),  # a WebSocket session, not slow
    (logging.DEBUG, 101, SLOW_REQUEST_S + 60, True),
    (logging.DEBUG, 200, 0.01, True),
    (logging.DEBUG, 503, 0.01, True),
    (logging.WARNING, 503, 0.01, False),
])
def test_which_requests_get_a_line(level: int, status: int, seconds: float, logged: bool,
                                   caplog: Any) -> None:
    """What aiohttp's access logger and the middleware's note write, together: one line
    for each request worth a look at INFO, one for every request at DEBUG."""
    access = AccessLogger(ACCESS, "")
    request = make_mocked_request("GET", "/api/v1/leaderboard/top10?token=secret")
    with caplog.at_level(level, logger=ACCESS.name):
        note_if_unusual(request, status, seconds, "rid-1")
        assert access.enabled is (level == logging.DEBUG)
        if access.enabled:  # aiohttp calls it only then
            access.log(request, Response(status=status), seconds)
    lines = [r for r in caplog.records if r.name == ACCESS.name]
    assert len(lines) == (1 if logged else 0)
    for line in lines:
        assert "secret" not in line.getMessage()
