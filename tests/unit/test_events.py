"""The Pub/Sub vocabulary: what Python publishes, every process's listener reads back
as the same event (on fakeredis: plain Pub/Sub, no Lua)."""

from __future__ import annotations

import asyncio
import time

import pytest
from fakeredis import FakeAsyncRedis, FakeServer

from scoreboard.auth.sessions import revoke
from scoreboard.auth.tokens import Claims
from scoreboard.live.listener import Listener
from scoreboard.store import events, keys


def test_decode_each_kind() -> None:
    change = events.decode(b'{"kind":"change","seq":4,"user_id":"u","previous_rank":-1,'
                           b'"rank":2,"score":"90","t":"1"}')
    assert change == events.Change(board="global", season=1, seq=4, user_id="u",
                                   previous_rank=None, rank=2, score=90)
    assert events.decode('{"kind":"refresh","seq":9}') == events.Refresh(board="global", seq=9)
    assert events.decode(events.encode_revoke(user_id="u")) == events.Revoke(user_id="u", jti=None)


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"seq": 3, "user_id": "u"}',
                                     b'{"kind": "change"}', b'{"kind": "gossip"}'])
def test_decode_refuses_what_it_does_not_know(payload: bytes) -> None:
    assert events.decode(payload) is None


async def test_revoke_reaches_a_listener_on_another_client() -> None:
    server = FakeServer()
    publisher, subscriber = FakeAsyncRedis(server=server), FakeAsyncRedis(server=server)
    heard: list[events.Event] = []
    got = asyncio.Event()

    def on_event(event: events.Event) -> None:
        heard.append(event)
        got.set()

    listener = Listener(subscriber, on_event, lambda: None)
    listener.start()
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 5)
        claims = Claims(sub="00000000-0000-0000-0000-000000000001", jti="j1",
                        exp=int(time.time()) + 60, admin=False)
        await revoke(publisher, claims)
        await asyncio.wait_for(got.wait(), 5)
    finally:
        await listener.stop()
    assert heard == [events.Revoke(user_id=None, jti="j1")]
    assert await publisher.exists(keys.revoked_key("j1"))


def test_decode_board_events() -> None:
    change = events.decode(b'{"kind":"change","board":"laps","season":3,"seq":2,"user_id":"u",'
                           b'"previous_rank":1,"rank":1,"score":"7","t":"1"}')
    assert change == events.Change(board="laps", season=3, seq=2, user_id="u",
                                   previous_rank=1, rank=1, score=7)
    assert events.decode(b'{"kind":"refresh","board":"laps","seq":5}') == events.Refresh(
        board="laps", seq=5)
    assert events.decode(events.encode_boards("laps")) == events.BoardsChanged("laps")
