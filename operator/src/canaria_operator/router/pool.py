"""Pooled keep-alive HTTP/1.1 connections to backends (asyncio + httptools).

``BackendPool.request`` raises ``ConnectFailed`` when no connection could be opened (the
request was never sent: the caller may retry elsewhere) and ``BackendFailed`` for anything after
the request was written (never retried: the body may have been accepted).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import cast

import httptools

from canaria_operator.router.table import Backend

__all__ = ["BackendFailed", "BackendPool", "BackendResponse", "ConnectFailed"]


class ConnectFailed(Exception):
    """Could not connect: nothing was sent."""


class BackendFailed(Exception):
    """The backend broke off or timed out after the request was sent."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


@dataclass(slots=True)
class BackendResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Conn(asyncio.Protocol):
    __slots__ = ("_body", "_headers", "closed", "idle_since", "parser", "transport", "waiter")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[BackendResponse] | None = None
        self.closed = False
        self.idle_since = 0.0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(BackendFailed(f"connection closed by backend ({exc!r})"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(BackendFailed(f"malformed backend response: {exc}"))
            self.close()

    def on_message_begin(self) -> None:
        self._headers, self._body = [], []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        resp = BackendResponse(self.parser.get_status_code(), self._headers, b"".join(self._body))
        if not self.parser.should_keep_alive():
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(resp)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[BackendResponse], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(BackendFailed(f"no answer within {timeout}s", timeout=True))


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

    async def _acquire(self, backend: Backend) -> _Conn:
        idle = self._idle.get(backend)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.max_idle:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(_Conn, backend.host, backend.port)
        except (OSError, TimeoutError) as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or repr(exc))
            raise ConnectFailed(f"{backend.host}:{backend.port} ({why})") from exc
        return conn

    async def request(self, backend: Backend, head: bytes, body: bytes) -> BackendResponse:
        """Send ``head`` (request line + headers + blank line) and ``body``; whole response."""
        conn = await self._acquire(backend)
        assert conn.transport is not None
        waiter: asyncio.Future[BackendResponse] = asyncio.get_running_loop().create_future()
        conn.waiter = waiter
        conn.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            conn.transport.write(body)
        timer = asyncio.get_running_loop().call_later(self.timeout, _expire, waiter, self.timeout)
        try:
            resp = await waiter
        except BaseException:
            conn.close()
            raise
        finally:
            timer.cancel()
        conn.waiter = None
        if not conn.closed:
            idle = self._idle.setdefault(backend, [])
            if len(idle) < self.max_idle_per_backend:
                conn.idle_since = time.monotonic()
                idle.append(conn)
            else:
                conn.close()
        return resp

    def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
