"""One error vocabulary: the registry is what the API, its docs and its metrics use."""

from __future__ import annotations

import re
from pathlib import Path

from scoreboard import errors
from scoreboard.api.docs import ERRORS

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_docs_table_is_the_registry() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\d{3}) \|", API_DOC.read_text(), re.M)
    assert {code: int(status) for code, status in rows} == {
        e.code: e.status for e in errors.REGISTRY.values()}


def test_every_exception_speaks_a_registered_code() -> None:
    for code, cls in errors.BY_CODE.items():
        exc = cls()
        assert exc.code == code and exc.status == errors.REGISTRY[code].status
        assert exc.message == errors.REGISTRY[code].message


def test_openapi_lists_every_code_under_its_status() -> None:
    for entry in errors.REGISTRY.values():
        assert entry.code in ERRORS[entry.status].split(" or ")


def test_outcome_labels() -> None:
    assert errors.outcome_of("RATE_LIMITED") == "rate"
    assert errors.outcome_of("SCORE_LIMIT_EXCEEDED") == "cap"
    assert errors.outcome_of("NOT_A_CODE") == "error"
