"""A minimal, fast HTTP/1.1 server on asyncio + httptools (the router's front end).

Only what a reverse proxy needs: whole-body requests (Content-Length or chunked, decoded),
keep-alive, pipelining (answered in order), a body size limit, and a JSON 4xx for anything the
parser rejects. Responses are written in one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

import httptools
import orjson

__all__ = ["Request", "Response", "ServerProtocol", "json_response"]

log = logging.getLogger("canaria.router")


@dataclass(slots=True)
class Request:
    method: str
    target: bytes  # path and query, as received
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool

    @property
    def path(self) -> str:
        return self.target.split(b"?", 1)[0].decode("latin-1")

    def header(self, name: bytes) -> bytes | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def json_response(
    status: int, payload: object, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    hs = [(b"Content-Type", b"application/json")]
    if headers:
        hs.extend(headers)
    return Response(status, orjson.dumps(payload), hs)


_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def encode_response(resp: Response, keep_alive: bool) -> bytes:
    reason = _REASONS.get(resp.status, b"Unknown")
    parts = [b"HTTP/1.1 %d %s\r\n" % (resp.status, reason)]
    for k, v in resp.headers:
        parts.append(k + b": " + v + b"\r\n")
    parts.append(b"Content-Length: %d\r\n" % len(resp.body))
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    parts.append(resp.body)
    return b"".join(parts)


Respond = Callable[[Response], None]
# Called once per request; must call ``respond`` exactly once (now or later).
Handler = Callable[[Request, Respond], None]


class ServerProtocol(asyncio.Protocol):
    """One client connection. Requests are handed to ``handler`` with a ``respond`` callback
    (no task or future per request); pipelined requests are answered in order."""

    def __init__(self, handler: Handler, max_body: int) -> None:
        self.handler, self.max_body = handler, max_body
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._queue: deque[Request] = deque()
        self._busy = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._queue.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(501, "protocol upgrades are not supported by the router")
        except httptools.HttpParserError as exc:
            if self._size > self.max_body:
                self._reject(413, f"request body larger than {self.max_body} bytes")
            else:
                self._reject(400, f"malformed HTTP request: {exc}")

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._size = b"", [], [], 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body:
            raise httptools.HttpParserError("body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._queue.append(
            Request(
                self.parser.get_method().decode("ascii"),
                self._url,
                self._headers,
                b"".join(self._body),
                self.parser.should_keep_alive(),
            )
        )
        if not self._busy:
            self._dispatch()

    def _dispatch(self) -> None:
        req = self._queue.popleft()
        self._busy = True
        done = False

        def respond(resp: Response) -> None:
            nonlocal done
            if done:  # a handler bug must not write two answers
                return
            done = True
            transport = self.transport
            if transport is None:  # the client left meanwhile
                return
            transport.write(encode_response(resp, req.keep_alive))
            if not req.keep_alive:
                transport.close()
                return
            self._busy = False
            if self._queue:
                self._dispatch()

        try:
            self.handler(req, respond)
        except Exception:  # a bug must not kill the connection silently
            log.exception("router error on %s %r", req.method, req.target)
            respond(json_response(500, {"error": "internal router error"}))

    def _reject(self, status: int, message: str) -> None:
        if self.transport is not None:
            body = orjson.dumps({"error": message})
            self.transport.write(
                encode_response(
                    Response(status, body, [(b"Content-Type", b"application/json")]), False
                )
            )
            self.transport.close()
