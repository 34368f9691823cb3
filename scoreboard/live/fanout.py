"""One frame written to many sockets, from more than one thread.

A broadcast's time is almost all the kernel's: on loopback a send also runs the
receiving side's TCP and wakes the reader, some 15-25 µs per socket, so 10,000
sockets take a whole core for a fifth of a second. Those system calls release
the GIL, so a few threads each writing a share of the sockets spread that work
over the cores. The event loop's thread writes one share itself and waits for the
others before it returns, so no other write (a ping, a snapshot, a close) can
reach a socket while the threads write to it, and the frames keep their order.

A thread writes only to a socket whose transport is open and holds nothing
unsent. Every other socket, and whatever a thread could not write whole (a full
socket buffer, an error), goes to the caller's ``send`` on the loop's thread, which
writes it through the socket's transport: that buffers it, drops a client that
stopped reading, or fails the connection, as for any write. A fan-out allocates
nothing per socket, so it gives the garbage collector no reason to run (a full
collection over 10,000 sockets' objects holds a push up for most of a second).
A socket without a plain file descriptor (TLS, a pipe, a test's fake) always goes
through its transport.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

# Below this many sockets a broadcast is written by the loop's thread alone: handing
# shares to other threads costs more than it saves.
PARALLEL_MIN = 64


class Target(Protocol):
    transport: asyncio.Transport | None
    fd: int


T = TypeVar("T", bound=Target)


def socket_fd(transport: asyncio.BaseTransport | None) -> int:
    """The file descriptor a thread may write to directly, or -1."""
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (AttributeError, OSError, ValueError):
        return -1


def _write_share(targets: Sequence[T], share: range, frame: bytes) -> list[tuple[T, int]]:
    """Write ``frame`` to each target of the share whose transport is open and holds
    nothing unsent; (target, bytes written) for every one that did not take it whole.

    Reading the transports from another thread is safe here: only the loop's thread
    changes them, and it is inside ``Writers.write`` until every share is done."""
    left = []
    size = len(frame)
    write = os.write
    for i in share:
        t = targets[i]
        tr = t.transport
        if t.fd < 0 or tr is None or tr.is_closing() or tr.get_write_buffer_size():
            left.append((t, 0))
            continue
        try:
            done = write(t.fd, frame)
        except OSError:  # a full buffer, or a connection gone: the transport takes over
            done = 0
        if done != size:
            left.append((t, done))
    return left


class Writers:
    """The threads besides the loop's that write a broadcast's shares."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = (ThreadPoolExecutor(threads, thread_name_prefix="ws-send")
                      if threads > 0 else None)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def write(self, targets: Sequence[T], frame: bytes,
              send: Callable[[T, bytes], None]) -> int:
        """Write ``frame`` to every target: straight to the sockets that can take it now,
        shared among the threads, and through ``send`` (on the loop's thread, before
        anything else is written to them) for the rest and for what a thread left
        unwritten. Returns how many targets the threads wrote whole."""
        pool = self._pool
        if pool is None or len(targets) < PARALLEL_MIN:
            for t in targets:
                send(t, frame)
            return 0
        ways = self.threads + 1
        shares = [range(i, len(targets), ways) for i in range(ways)]
        futures = [pool.submit(_write_share, targets, share, frame) for share in shares[1:]]
        left = _write_share(targets, shares[0], frame)
        for future in futures:
            left += future.result()
        for t, done in left:
            send(t, frame[done:] if done else frame)
        return len(targets) - len(left)
