"""The auto-pipeline's RESP encoder, held to redis-py's own, through its table of kept
encodings: on first use, on reuse, across values that are equal in Python but not in
RESP (1, 1.0 and "1"), and after the table fills and empties."""

from __future__ import annotations

from typing import Any

from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer

from scoreboard.store import autopipe

_REDIS_PY = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)

CALLS: list[tuple[Any, ...]] = [
    ("EVALSHA", "a" * 40, 2, "sb:seq", "sb:rate:u1", "u1", 1, "1", "é", b"\x00\xffraw"),
    ("EVALSHA", "a" * 40, 2, "sb:seq", "sb:rate:u2", "u2", 1.0, 1, "1", b"1", 10**15),
    ("SET", "k", "", 0, -1, 2.5, 1.0, 1),
]


def redis_py(*args: Any) -> bytes:
    return b"".join(_REDIS_PY.pack(*args))


def test_pack_encodes_as_redis_py_does_fresh_and_kept() -> None:
    autopipe._bulks.clear()
    for _ in range(2):  # the second round reads kept encodings
        for call in CALLS:
            assert autopipe.pack(*call) == redis_py(*call)
    assert autopipe._bulks, "nothing was kept"
    assert all(type(k) in (str, int) for k in autopipe._bulks)


def test_a_full_table_empties_and_encodings_stay_right(monkeypatch: Any) -> None:
    monkeypatch.setattr(autopipe, "BULK_CACHE_SIZE", 5)
    autopipe._bulks.clear()
    for i in range(40):
        call = ("EVALSHA", "sha", f"sb:rate:u{i}", i, "tap")
        assert autopipe.pack(*call) == redis_py(*call)
        assert len(autopipe._bulks) <= 5
