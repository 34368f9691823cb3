"""An auto-pipelining script runner for the hot path.

Concurrent requests share one connection: the calls made in one turn of the
event loop are written together, in sends of at most ``SEND_AT`` calls, and one
reader task hands the replies back in order (Redis answers in the order it was
asked). Under load many calls travel in one TCP segment and one read, with a
fraction of a general client's per-call overhead. One timer, not one per call,
watches the oldest call in flight.

It never retries a call: a script whose reply was lost may have run, so the
caller answers 503 and the player's Idempotency-Key settles it. A timeout or
a broken connection fails every call in flight and the next call reconnects.
Plain Redis only (TCP or unix socket, no TLS, no cluster); ``scripts.load``
falls back to redis-py's Script for the rest.

Behind Sentinel, ``locate`` gives the master's address at each connect; a
READONLY reply (the server was demoted) drops the connection, so the next call
finds the new master.

Durable calls: with ``replicas`` > 0, one ``WAIT replicas ms`` follows the
durable calls of each turn, in its last send, and those calls return only if
that many replicas acknowledged it (else NotReplicated, a connection error:
503). One WAIT covers every call of the turn, so replication costs a round trip
per turn, not per call or per send.

Following the master's replicas (``follow``, REDIS_WAIT_REPLICAS=connected): each
connection asks its server for its replicas as it opens (``INFO replication``, in
the same send as AUTH and SELECT), and ``look`` asks again; behind Sentinel, both
also ask the Sentinels which replicas of the master they list and do not think down
(``listed``). A master that has, or has ever had, a replica, or that the Sentinels
list a live replica for, makes every durable call wait for one; any other master (a
replica promoted after its master was lost for good: the Sentinels think the old one
down) takes writes at once. A master is never let off because its replica went away:
that is also what a master being replaced looks like for a moment (its replica
promoted, Sentinel not yet naming it), and a write it acknowledged then would be
lost. Nor is a new master whose replica has not attached yet: in a switch the old
master is listed as its replica while Sentinel reconfigures it, and without the
Sentinels' list a write acknowledged then, unreplicated, was lost when the switch
went on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Most of a hot call's arguments are the same from call to call (the script's sha, fixed
# keys, a board's keys and settings): the RESP encodings of str and int arguments are
# kept (no str equals an int; bool and float, which can, and bytes, which hash like str,
# are encoded afresh). A full table is emptied and fills again, so the values every call
# uses come back at once and per-player values cannot crowd them out for good. Encoding
# a 30-argument update afresh cost about four times as much.
BULK_CACHE_SIZE = 4096
_bulks: dict[Any, bytes] = {}

# A turn of the event loop under load parses dozens of requests. Held for one send at
# the turn's end, their calls reached Redis together: Redis sat idle while the requests
# were parsed, then the service while Redis ran them, and back again. Sent every few
# calls, Redis runs the first while the service parses the next. Updates from 50
# connections, interleaved rounds against one send per turn (docs/design.md, "Where an
# update's time goes"): 1.07x sending each call at once, 1.17x at 4, 1.16x at 8, 1.15x
# at 16.
SEND_AT = 8


def _bulk(arg: Any) -> bytes:
    data = arg if type(arg) is bytes else str(arg).encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def pack(*args: Any) -> bytes:
    """One command in RESP: bytes as they are, anything else (str, int) as its text."""
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    cached = _bulks.get
    for arg in args:
        kind = type(arg)
        if kind is not str and kind is not int:
            append(_bulk(arg))
            continue
        bulk = cached(arg)
        if bulk is None:
            bulk = _bulk(arg)
            if len(_bulks) >= BULK_CACHE_SIZE:
                _bulks.clear()
            _bulks[arg] = bulk
        append(bulk)
    return b"".join(parts)


def wait_ms(timeout: float) -> int:
    """A WAIT's own timeout: half the command timeout, so it answers before the
    connection is given up on."""
    return max(1, int(timeout * 500))


class NotReplicated(RedisConnectionError):
    """A write the master applied, but fewer replicas than asked acknowledged in time:
    a failover could lose it, so it is not acknowledged."""


class AutoPipeline:
    def __init__(self, url: str = "", *, timeout: float,
                 locate: Callable[[], Awaitable[tuple[str, int]]] | None = None,
                 password: str | None = None, replicas: int = 0,
                 follow: bool = False,
                 listed: Callable[[], Awaitable[int]] | None = None) -> None:
        self._opts = parse_url(url) if url else {}
        self.follow = follow
        self.online = 0  # replicas in sync with the master, when following them
        self._address = ""  # the server this connection reaches
        self._had_replica: set[str] = set()  # masters seen with a replica
        self._listed = listed  # live replicas the Sentinels list for the master
        self._listed_now = 0
        if password and not self._opts.get("password"):
            self._opts["password"] = password
        self._locate = locate
        self._timeout = timeout
        self.replicas = replicas
        self._wait_ms = wait_ms(timeout)
        self._wait: asyncio.Future[Any] | None = None  # the WAIT of the send being built
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self._outbox: list[bytes] = []
        self._read_task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Lock = asyncio.Lock()
        self._attempts = 0
        self._last_error: str | None = None

    async def _connect(self) -> None:
        """Connect, within one timeout in all. Callers that queued behind an attempt
        that failed fail with it, rather than each trying (and waiting) in turn."""
        attempt = self._attempts
        async with self._connecting:
            if self._writer is not None:
                return
            if self._attempts != attempt and self._last_error is not None:
                raise RedisConnectionError(self._last_error)
            self._attempts += 1
            try:
                async with asyncio.timeout(self._timeout):
                    await self._open()
                self._last_error = None
            except (OSError, TimeoutError, RedisConnectionError) as exc:
                self._last_error = f"cannot connect: {exc or exc.__class__.__name__}"
                if self._writer is not None:
                    self._fail(RedisConnectionError(self._last_error))
                raise RedisConnectionError(self._last_error) from None

    async def _open(self) -> None:
        o = self._opts
        if self._locate is not None:  # no master known: MasterNotFoundError
            host, port = await self._locate()
            reader, writer = await asyncio.open_connection(host, port)
            self._address = f"{host}:{port}"
        elif "path" in o:
            reader, writer = await asyncio.open_unix_connection(o["path"])
            self._address = o["path"]
        else:
            reader, writer = await asyncio.open_connection(o.get("host", "localhost"),
                                                           o.get("port", 6379))
            self._address = f"{o.get('host', 'localhost')}:{o.get('port', 6379)}"
        hello = []
        if o.get("password"):
            user = [o["username"]] if o.get("username") else []
            hello.append(pack("AUTH", *user, o["password"]))
        hello.append(pack("SELECT", o.get("db", 0)))
        if self.follow:
            hello.append(pack("INFO", "replication"))
        self._reader, self._writer = reader, writer
        self._read_task = asyncio.create_task(self._read_loop(reader))
        self._watchdog = asyncio.get_running_loop().call_later(self._timeout, self._watch)
        futs = [self._expect() for _ in hello]
        writer.write(b"".join(hello))
        for fut in futs:
            reply = await fut
            if isinstance(reply, hiredis.ReplyError):
                raise RedisConnectionError(f"Redis refused the connection: {reply}")
        if self.follow:
            if self._listed is not None:
                self._listed_now = await self._listed()
            self._replicas_seen(reply)

    def _replicas_seen(self, info: bytes) -> None:
        """What the master's INFO replication says, and the Sentinels' list: one replica
        waited for if it has one, ever had one, or the Sentinels list a live one (see
        the module's doc)."""
        self.online = online_replicas(info)
        if self.online:
            self._had_replica.add(self._address)
        self.replicas = 1 if self._address in self._had_replica or self._listed_now else 0

    async def look(self) -> int:
        """Ask the master (and the Sentinels) for its replicas again; returns how many
        are in sync."""
        info = await self.call("INFO", "replication")
        if self._listed is not None:
            self._listed_now = await self._listed()
        self._replicas_seen(info)
        return self.online

    def _expect(self) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._pending.append((loop.time(), fut))
        return fut

    def _watch(self) -> None:
        """Fail everything if the oldest call has waited longer than the timeout:
        a reply that comes later could no longer be matched to its call."""
        loop = asyncio.get_running_loop()
        if self._pending and loop.time() - self._pending[0][0] > self._timeout:
            self._fail(RedisTimeoutError("Redis did not answer in time"))
            return
        self._watchdog = loop.call_later(self._timeout / 4, self._watch)

    def _flush(self) -> None:
        """The turn's last send, and its WAIT when it made durable calls."""
        if self._wait is not None:
            # after the turn's last durable call: covers every write made before it
            self._pending.append((asyncio.get_running_loop().time(), self._wait))
            self._outbox.append(pack("WAIT", self.replicas, self._wait_ms))
            self._wait = None
        self._send()

    def _send(self) -> None:
        if self._writer is not None and self._outbox:
            self._writer.write(b"".join(self._outbox))
        self._outbox = []

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        parser = hiredis.Reader()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise RedisConnectionError("connection closed by server")
                parser.feed(data)
                while (reply := parser.gets()) is not False:
                    fut = self._pending.popleft()[1]
                    if not fut.done():
                        fut.set_result(reply)
        except (OSError, RedisConnectionError, IndexError) as exc:
            self._fail(RedisConnectionError(str(exc) or exc.__class__.__name__))

    def _fail(self, exc: Exception) -> None:
        """Drop the connection and fail every call still waiting on it."""
        pending, self._pending = self._pending, collections.deque()
        if self._wait is not None:
            pending.append((0.0, self._wait))
            self._wait = None
        self._outbox = []
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for _, fut in pending:
            if not fut.done():
                fut.set_exception(exc)
        if self._writer is not None:
            self._writer.close()
        if self._read_task is not None and self._read_task is not asyncio.current_task():
            self._read_task.cancel()
        self._reader = self._writer = self._read_task = None

    async def call(self, *args: Any, durable: bool = False) -> Any:
        if self._writer is None:
            await self._connect()
        assert self._writer is not None  # set by _connect or it raised
        fut = self._expect()
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(pack(*args))
        waited = None
        if durable and self.replicas:
            if self._wait is None:
                self._wait = asyncio.get_running_loop().create_future()
                # a failed call may never await it: its error is read here
                self._wait.add_done_callback(_retrieve)
            waited = self._wait
        if len(self._outbox) >= SEND_AT:
            self._send()  # the turn's WAIT, if any, follows in its last send
        reply = await fut
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            if message.startswith("NOSCRIPT"):
                raise NoScriptError(message)
            if message.startswith("READONLY") and self._writer is not None:
                # a demoted master: the next call connects to the one Sentinel names
                self._fail(RedisConnectionError("the master was demoted"))
                raise RedisConnectionError(message)
            raise ResponseError(message)
        if waited is not None:
            acked = await waited
            if isinstance(acked, hiredis.ReplyError) or int(acked) < self.replicas:
                if self._locate is not None and self._writer is not None:
                    # perhaps a master being replaced: find it again on the next call
                    self._fail(NotReplicated("replicas did not acknowledge"))
                raise NotReplicated(f"{acked} of {self.replicas} replicas acknowledged the "
                                    "write in time")
        return reply

    async def aclose(self) -> None:
        if self._writer is not None:
            writer = self._writer
            self._fail(RedisConnectionError("closed"))
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def online_replicas(info: bytes) -> int:
    """Replicas in sync with the master, from its ``INFO replication`` text."""
    return sum(1 for line in info.split(b"\r\n")
               if line.startswith(b"slave") and b":" in line and b"state=online" in line)


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class PipelinedScript:
    """A Lua script run through an AutoPipeline: EVALSHA, and SCRIPT LOAD when missing."""

    def __init__(self, pipe: AutoPipeline, source: str, durable: bool = False) -> None:
        self.pipe = pipe
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.durable = durable

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        call = self.pipe.call
        try:
            return await call("EVALSHA", self.sha, len(keys), *keys, *args, durable=self.durable)
        except NoScriptError:  # not run: safe to load and call again
            await call("SCRIPT", "LOAD", self.source)
            return await call("EVALSHA", self.sha, len(keys), *keys, *args, durable=self.durable)


def can_pipeline(url: str, cluster: bool) -> bool:
    return not cluster and parse_url(url).get("connection_class") is not SSLConnection
