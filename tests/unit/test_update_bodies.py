"""An update body's two paths: the hot path takes a plainly valid body as is, the schema
takes everything else. Both must accept the same bodies and read them the same, for a
player's update, a server key's and a batch item."""

from __future__ import annotations

from typing import Any

import pytest

from scoreboard import errors
from scoreboard.api.requests import MAX_METADATA, Update, metadata_text, parse_update

UID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


class Slow(dict):  # type: ignore[type-arg]
    """Not exactly a dict: the hot path leaves it to the schema."""


def both(data: Any, **kw: Any) -> tuple[Update | str, Update | str]:
    def one(body: Any) -> Update | str:
        try:
            return parse_update(body, **kw)
        except errors.ApiError as exc:
            return exc.code
    return one(data), one(Slow(data) if isinstance(data, dict) else data)


GOOD_ITEMS = [
    {"user_id": UID, "action_type": "kill", "score_increment": 5},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "idempotency_key": "m-1"},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "metadata": None},
    {"user_id": UID, "action_type": "kill", "score_increment": 5,
     "metadata": {"car": "rx-7", "laps": [1, 2.5], "ok": True, "none": None}},
    {"user_id": UID.upper(), "action_type": "kill", "score_increment": 5},
    {"user_id": UID, "action_type": "kill", "score_increment": 5,
     "metadata": {"text": "a literal \\u0000 is text"}},
]
BAD_ITEMS = [
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "idempotency_key": ""},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "idempotency_key": None},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "idempotency_key": 7},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "idempotency_key": "x" * 129},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "idempotency_key": "a\nb"},
    {"action_type": "kill", "score_increment": 5},
    {"user_id": 7, "action_type": "kill", "score_increment": 5},
    {"user_id": "nope", "action_type": "kill", "score_increment": 5},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "metadata": [1]},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "metadata": "x"},
    {"user_id": UID, "action_type": "kill", "score_increment": 5,
     "metadata": {"pad": "x" * MAX_METADATA}},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "metadata": {"n": "a\x00"}},
    {"user_id": UID, "action_type": "kill", "score_increment": 5, "extra": 1},
    {"user_id": UID, "action_type": "kill", "score_increment": 0},
    {"user_id": UID, "action_type": "kill", "score_increment": True},
    {"user_id": UID, "action_type": "", "score_increment": 5},
    [1, 2],
]


@pytest.mark.parametrize("body", GOOD_ITEMS)
def test_good_items_read_the_same_both_ways(body: dict[str, Any]) -> None:
    fast, slow = both(body, by_key=True, item=True)
    assert isinstance(fast, Update) and fast == slow
    assert fast.user_id == UID


@pytest.mark.parametrize("body", BAD_ITEMS)
def test_bad_items_are_refused_both_ways(body: Any) -> None:
    assert both(body, by_key=True, item=True) == ("VALIDATION_ERROR", "VALIDATION_ERROR")


def test_what_each_caller_may_send() -> None:
    own = {"action_type": "kill", "score_increment": 5, "metadata": {"a": 1}}
    assert both(own, by_key=False) == (Update("kill", 5, None, '{"a":1}'),) * 2
    # a player names no one; a key must; only a batch item carries its idempotency key
    assert both({**own, "user_id": UID}, by_key=False) == ("VALIDATION_ERROR",) * 2
    assert both(own, by_key=True) == ("VALIDATION_ERROR",) * 2
    keyed = {**own, "user_id": UID, "idempotency_key": "k"}
    assert both(keyed, by_key=True) == ("VALIDATION_ERROR",) * 2
    assert both(keyed, by_key=True, item=True)[0] == Update("kill", 5, UID, '{"a":1}', "k")


def test_metadata_text() -> None:
    assert metadata_text(None) == ""
    assert metadata_text({}) == "{}"
    assert metadata_text({"k": "é"}) == '{"k":"é"}'
    assert metadata_text({"k": "a\x00b"}) is None  # jsonb holds no NUL
    assert metadata_text({"k": "\\u0000"}) == '{"k":"\\\\u0000"}'  # the text itself is fine
    assert metadata_text({"k": "\\\x00"}) is None
    assert metadata_text({"k": "x" * (MAX_METADATA - 8)}) is not None
    assert metadata_text({"k": "x" * (MAX_METADATA - 7)}) is None
    assert metadata_text([]) is None
