"""Pooled keep-alive HTTP/1.1 connections to backends (asyncio + httptools, callbacks).

``BackendPool.send`` writes a request on an idle connection (or a new one) and calls
``done(response, None)`` or ``done(None, error)`` exactly once: ``ConnectFailed`` when no
connection could be opened (the request was never sent: the caller may retry elsewhere),
``BackendFailed`` for anything after the request was written; its ``answered`` says whether
any byte of an answer had arrived (a backend that died or closed a pooled connection before
answering leaves ``answered`` false). The hot path creates no task and no future.

Interim (1xx) responses are skipped: only the final response answers a request. The answer to
a HEAD ends with its head (its Content-Length announces a body that is not sent); that
connection is then closed rather than reused, since llhttp cannot be told to expect no body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httptools

from canaria_operator.router.table import Backend

__all__ = ["BackendFailed", "BackendPool", "BackendResponse", "ConnectFailed", "Done"]


class ConnectFailed(Exception):
    """Could not connect: nothing was sent."""


class BackendFailed(Exception):
    """The backend broke off or timed out after the request was sent."""

    def __init__(self, message: str, timeout: bool = False, answered: bool = True) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.answered = answered  # False: the connection closed before any answer byte


@dataclass(slots=True)
class BackendResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


Done = Callable[[BackendResponse | None, Exception | None], None]


class _Conn(asyncio.Protocol):
    def __init__(self, pool: BackendPool, backend: Backend) -> None:
        self.pool, self.backend = pool, backend
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.done: Done | None = None
        self.head = False  # the request in flight is a HEAD
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.idle_since = 0.0
        self.answering = False  # a byte of the answer to the request in flight has arrived
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        when = "while answering" if self.answering else "before answering"
        failed = BackendFailed(f"connection closed by backend {when} ({exc!r})")
        failed.answered = self.answering
        self._finish(None, failed)

    def data_received(self, data: bytes) -> None:
        self.answering = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.close()
            self._finish(None, BackendFailed(f"malformed backend response: {exc}"))

    def on_message_begin(self) -> None:
        self._headers, self._body = [], []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.head and self.parser.get_status_code() >= 200:
            self.close()  # the parser would wait for the announced body: not reusable
            self._finish(BackendResponse(self.parser.get_status_code(), self._headers, b""), None)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:
                self.close()
                self._finish(None, BackendFailed("backend switched protocols (101)"))
            return  # interim response (100 Continue, 103 Early Hints): the final one follows
        resp = BackendResponse(status, self._headers, b"".join(self._body))
        if not self.parser.should_keep_alive():
            self.close()
        self._finish(resp, None)

    def send(self, data: bytes, done: Done, timeout: float, head: bool = False) -> None:
        assert self.transport is not None
        self.done, self.head, self.answering = done, head, False
        self.timer = asyncio.get_running_loop().call_later(timeout, self._expire, timeout)
        self.transport.write(data)

    def _expire(self, timeout: float) -> None:
        self.close()
        self._finish(None, BackendFailed(f"no answer within {timeout}s", timeout=True))

    def _finish(self, resp: BackendResponse | None, error: Exception | None) -> None:
        done, self.done = self.done, None
        if done is None:
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if error is None:
            self.pool.release(self)  # before the callback: its next request may reuse it
        done(resp, error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class BackendPool:
    """Idle keep-alive connections per backend; connections idle longer than ``max_idle``
    are dropped (the backend may be closing them: avoids the keep-alive race)."""

    def __init__(
        self,
        connect_timeout: float = 1.0,
        timeout: float = 30.0,
        max_idle: float = 4.0,
        max_idle_per_backend: int = 256,
    ) -> None:
        self.connect_timeout, self.timeout, self.max_idle = connect_timeout, timeout, max_idle
        self.max_idle_per_backend = max_idle_per_backend
        self._idle: dict[Backend, list[_Conn]] = {}
        self._connecting: set[asyncio.Task[None]] = set()

    def send(self, backend: Backend, data: bytes, done: Done, head: bool = False) -> None:
        """Send ``data`` (a whole request; ``head``: a HEAD) to ``backend``; ``done`` is
        called exactly once."""
        idle = self._idle.get(backend)
        if idle:
            now = time.monotonic()
            while idle:
                conn = idle.pop()
                if not conn.closed and now - conn.idle_since < self.max_idle:
                    conn.send(data, done, self.timeout, head)
                    return
                conn.close()
        task = asyncio.ensure_future(self._connect_and_send(backend, data, done, head))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    async def _connect_and_send(
        self, backend: Backend, data: bytes, done: Done, head: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Conn(self, backend), backend.host, backend.port
                )
        except (OSError, TimeoutError) as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or repr(exc))
            done(None, ConnectFailed(f"{backend.host}:{backend.port} ({why})"))
            return
        conn.send(data, done, self.timeout, head)

    def release(self, conn: _Conn) -> None:
        if conn.closed:
            return
        idle = self._idle.setdefault(conn.backend, [])
        if len(idle) < self.max_idle_per_backend:
            conn.idle_since = time.monotonic()
            idle.append(conn)
        else:
            conn.close()

    async def request(self, backend: Backend, data: bytes) -> BackendResponse:
        """Awaitable form of ``send`` (for callers off the hot path)."""
        future: asyncio.Future[BackendResponse] = asyncio.get_running_loop().create_future()

        def done(resp: BackendResponse | None, error: Exception | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                assert resp is not None
                future.set_result(resp)

        self.send(backend, data, done)
        return await future

    def close(self) -> None:
        for task in self._connecting:
            task.cancel()
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
