"""The fan-out's threads write to real sockets: what they write, what they leave to
the transport, and that more than one thread writes."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from scoreboard.live import fanout
from scoreboard.live.fanout import PARALLEL_MIN, Writers

FRAME = b"\x81\x05hello"


@dataclass
class FakeTransport:
    """What the fan-out reads of a transport; a write here means 'through the transport'."""

    buffered: int = 0
    closing: bool = False
    written: list[bytes] = field(default_factory=list)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.written.append(data)


@dataclass(eq=False)
class Target:
    transport: FakeTransport
    fd: int
    peer: socket.socket


@pytest.fixture
def targets() -> Iterator[list[Target]]:
    made = []
    for _ in range(PARALLEL_MIN * 2):
        ours, peer = socket.socketpair()
        ours.setblocking(False)
        peer.setblocking(False)
        made.append((ours, Target(FakeTransport(), ours.fileno(), peer)))
    yield [t for _, t in made]
    for ours, t in made:
        ours.close()
        t.peer.close()


def through_transport(t: Target, data: bytes) -> None:
    t.transport.write(data)


def received(t: Target) -> bytes:
    try:
        return t.peer.recv(1 << 20)
    except BlockingIOError:
        return b""


def test_threads_write_every_ready_socket(targets: list[Target],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    threads = set()
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        threads.add(threading.get_ident())
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    writers = Writers(2)
    try:
        assert writers.write(targets, FRAME, through_transport) == len(targets)
        assert writers.write(targets, FRAME, through_transport) == len(targets)
    finally:
        writers.close()
    for t in targets:
        assert received(t) == FRAME * 2
        assert t.transport.written == []
    assert threading.get_ident() in threads and len(threads) >= 2  # the loop's and others


def test_what_a_thread_may_not_write_comes_back(targets: list[Target]) -> None:
    busy, closing, no_fd = targets[:3]
    busy.transport.buffered = 10  # a write behind it would jump the queue
    closing.transport.closing = True
    no_fd.fd = -1
    writers = Writers(1)
    try:
        assert writers.write(targets, FRAME, through_transport) == len(targets) - 3
    finally:
        writers.close()
    for t in (busy, closing, no_fd):
        assert received(t) == b""
        assert t.transport.written == [FRAME]
    for t in targets[3:]:
        assert received(t) == FRAME
        assert t.transport.written == []


def test_a_full_socket_comes_back_with_what_it_took(targets: list[Target]) -> None:
    full = targets[5]
    full_sock = socket.socket(fileno=os.dup(full.fd))
    full_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    while True:  # fill it, less than one frame short of full
        try:
            full_sock.send(b"x" * 512)
        except BlockingIOError:
            break
    full_sock.close()
    big = b"\x81\x7e" + (4000).to_bytes(2, "big") + b"y" * 4000
    writers = Writers(1)
    try:
        assert writers.write(targets, big, through_transport) == len(targets) - 1
    finally:
        writers.close()
    drained = b""
    while chunk := received(full):
        drained += chunk
    [rest] = full.transport.written
    assert drained.lstrip(b"x") + rest == big  # what it took, then the rest, in order
    assert all(t.transport.written == [] for t in targets if t is not full)


def test_few_sockets_or_no_threads_go_through_the_transports(targets: list[Target]) -> None:
    few = targets[:PARALLEL_MIN - 1]
    writers = Writers(2)
    try:
        assert writers.write(few, FRAME, through_transport) == 0
    finally:
        writers.close()
    assert Writers(0).write(targets, FRAME, through_transport) == 0
    assert all(received(t) == b"" for t in targets)
    assert [t.transport.written for t in targets] == (
        [[FRAME, FRAME]] * len(few) + [[FRAME]] * (len(targets) - len(few)))


def test_a_socket_without_a_descriptor_is_never_written_directly() -> None:
    assert fanout.socket_fd(None) == -1

    class Tls:
        def get_extra_info(self, name: str) -> object:
            return object() if name == "sslcontext" else None

    assert fanout.socket_fd(Tls()) == -1  # type: ignore[arg-type]
