"""The router's client-facing HTTP/1.1 server: asyncio + httptools (llhttp), callbacks only.

llhttp frames the messages (strictly: no leniency flag is set) and ``http11`` checks what it
lets through. Whole-body requests (Content-Length or chunked, decoded), keep-alive,
pipelining answered strictly in order, Expect: 100-continue, body and head limits.

A request that cannot be served gets one JSON error ``{"error": "..."}`` *in its place in the
pipeline* (after the answers to the requests before it), ``Connection: close``, and the
connection is closed: nothing after it is parsed or forwarded. The same holds after a request
that asked to close. Such closes are "lingering": the write side is shut first and whatever
the client still sends is read and dropped for up to ``LINGER`` seconds, so the client reads
the answer instead of a reset.

Shutdown: ``Connections.drain()`` makes every open connection answer its next request with
``Connection: close`` and close after it, so clients reconnect (to another replica) at a
moment of their choosing rather than finding a connection closed under a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import NoReturn, cast

import httptools
import orjson

from canaria_operator.router.http11 import (
    MAX_FIELD_LINE,
    MAX_FIELDS,
    MAX_HEAD,
    MAX_REQUEST_LINE,
    Head,
    Refused,
    check_field,
    read_head,
)

__all__ = ["LINGER", "Connections", "Request", "Response", "ServerProtocol", "json_response"]

log = logging.getLogger("canaria.router")

LINGER = 2.0
PIPELINE_PAUSE = 64  # queued requests at which reading pauses (resumes below a quarter)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_BODYLESS = frozenset((204, 304))


@dataclass(slots=True)
class Request:
    method: str
    target: bytes  # origin-form path and query (absolute-form is reduced to it)
    headers: list[tuple[bytes, bytes]]  # end-to-end fields only (``http11.read_head``)
    body: bytes
    keep_alive: bool
    http10: bool = False

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
    length: int | None = None  # Content-Length announced to a HEAD (default: len(body))


def json_response(
    status: int, payload: object, headers: list[tuple[bytes, bytes]] | None = None
) -> Response:
    hs = [(b"Content-Type", b"application/json")]
    if headers:
        hs.extend(headers)
    return Response(status, orjson.dumps(payload), hs)


_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def encode_response(
    resp: Response, keep_alive: bool, http10: bool = False, head: bool = False
) -> bytes:
    status = resp.status
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))]
    for k, v in resp.headers:
        parts.append(k + b": " + v + b"\r\n")
    bodyless = status in _BODYLESS
    if not bodyless:
        length = len(resp.body) if resp.length is None else resp.length
        parts.append(b"Content-Length: %d\r\n" % length)
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    elif http10:
        parts.append(b"Connection: keep-alive\r\n")
    parts.append(b"\r\n")
    if not (head or bodyless):
        parts.append(resp.body)
    return b"".join(parts)


def _llhttp_refusal(exc: Exception) -> Refused:
    text = str(exc)
    if "Invalid HTTP version" in text or "PRI/Upgrade" in text:
        return Refused(505, "HTTP version not supported (HTTP/1.0 and 1.1 only)")
    return Refused(400, f"malformed HTTP request: {text}")


Respond = Callable[[Response], None]
# Called once per request; must call ``respond`` exactly once (now or later).
Handler = Callable[[Request, Respond], None]


class Connections:
    """The open client connections of one server, for a graceful shutdown."""

    def __init__(self) -> None:
        self.open: set[ServerProtocol] = set()
        self.draining = False
        self._none_left = asyncio.Event()

    def add(self, proto: ServerProtocol) -> None:
        self.open.add(proto)
        self._none_left.clear()

    def discard(self, proto: ServerProtocol) -> None:
        self.open.discard(proto)
        if not self.open:
            self._none_left.set()

    def drain(self) -> None:
        """From now on every answer closes its connection (``Connection: close``)."""
        self.draining = True
        if not self.open:
            self._none_left.set()

    async def closed(self, seconds: float) -> None:
        """Wait for the connections to close after their next answer; close the rest (idle
        clients that sent nothing meanwhile) after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_left.wait(), seconds)
        for proto in list(self.open):
            if proto.transport is not None:
                proto.transport.close()


class ServerProtocol(asyncio.Protocol):
    """One client connection. Requests are handed to ``handler`` with a ``respond`` callback
    (no task or future per request); pipelined requests are answered in order."""

    def __init__(
        self, handler: Handler, max_body: int, connections: Connections | None = None
    ) -> None:
        self.handler, self.max_body = handler, max_body
        self.connections = connections
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._queue: deque[Request | Refused] = deque()  # parsed, not yet handed on
        self._busy = False  # a request is with the handler
        self._reading = True  # False: every further byte is dropped (closing)
        self._paused = False
        self._eof = False  # the client shut its side with answers still owed
        self._linger: asyncio.TimerHandle | None = None
        self._continue_due = False  # a 100 Continue waits for earlier answers
        self._error: Refused | None = None
        # the message being parsed
        self._serial = 0
        self._in_msg = self._in_head = False
        self._url = self._method = b""
        self._version = ""
        self._fields: list[tuple[bytes, bytes]] = []
        self._head: Head | None = None
        self._body: list[bytes] = []
        self._size = self._head_size = self._nfields = self._raw_head = self._extra = 0

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        if self.connections is not None:
            self.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.connections is not None:
            self.connections.discard(self)
        self._queue.clear()
        if self._linger is not None:
            self._linger.cancel()

    def eof_received(self) -> bool:
        self._reading = False
        if self._linger is None and (self._busy or self._queue):
            self._eof = True
            return True  # keep the write side open for the answers still owed
        return False

    def data_received(self, data: bytes) -> None:
        if not self._reading:
            return
        serial, in_msg, in_head, size = self._serial, self._in_msg, self._in_head, self._size
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # refused in on_headers_complete already
            self._refuse(self._error or Refused(501, "protocol upgrades are not supported"))
            return
        except httptools.HttpParserError as exc:
            if self._reading:  # else: bytes after a request that closes, dropped
                self._refuse(self._error or _llhttp_refusal(exc))
            return
        if in_msg and self._in_msg and serial == self._serial:
            # the whole chunk belonged to the message being parsed: bound what llhttp and
            # httptools buffer unseen (a header line or trailer still coming, chunk framing)
            if in_head and self._in_head:
                self._raw_head += len(data)
                if self._raw_head > MAX_HEAD + MAX_REQUEST_LINE:
                    self._refuse(Refused(431, "request header section over 32 KiB"))
            elif not in_head:
                self._extra += len(data) - (self._size - size)
                if self._extra > max(self.max_body, MAX_HEAD):
                    self._refuse(Refused(413, "chunk framing and trailers too large"))

    # httptools callbacks
    def _fail(self, refused: Refused) -> NoReturn:
        self._error = refused
        raise refused

    def on_message_begin(self) -> None:
        self._serial += 1
        self._in_msg = self._in_head = True
        self._url, self._fields, self._body, self._head = b"", [], [], None
        self._size = self._head_size = self._nfields = self._raw_head = self._extra = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_REQUEST_LINE:
            self._fail(Refused(414, "request line over 8 KiB"))

    def on_header(self, name: bytes, value: bytes) -> None:
        n = len(name) + len(value)
        self._head_size += n + 4
        self._nfields += 1
        if n > MAX_FIELD_LINE or self._nfields > MAX_FIELDS or self._head_size > MAX_HEAD:
            try:
                check_field(name, value, self._nfields, self._head_size)
            except Refused as exc:
                self._fail(exc)
        if self._in_head:  # trailer fields are counted, not kept
            self._fields.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        p = self.parser
        self._method, self._version = p.get_method(), p.get_http_version()
        try:
            self._head = head = read_head(
                self._method,
                self._url,
                self._version,
                self._fields,
                upgrade=p.should_upgrade(),
                max_body=self.max_body,
            )
        except Refused as exc:
            self._fail(exc)
        if head.expects_continue and self.transport is not None:
            if self._busy or self._queue:
                self._continue_due = True  # after the answers owed before it
            else:
                self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body:
            self._fail(Refused(413, f"request body larger than {self.max_body} bytes"))
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_msg = self._continue_due = False
        head, p = self._head, self.parser
        assert head is not None  # on_headers_complete refused otherwise
        keep_alive = p.should_keep_alive()
        if not keep_alive:
            self._reading = False  # RFC 9112 9.6: nothing after it is processed
        self._queue.append(
            Request(
                self._method.decode("ascii"),
                head.target,
                head.headers,
                b"".join(self._body),
                keep_alive,
                self._version == "1.0",
            )
        )
        if not self._busy:
            self._dispatch()
        elif len(self._queue) >= PIPELINE_PAUSE and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()

    # answering, in order
    def _dispatch(self) -> None:
        item = self._queue.popleft()
        if self._paused and len(self._queue) < PIPELINE_PAUSE // 4 and self.transport:
            self._paused = False
            self.transport.resume_reading()
        if isinstance(item, Refused):
            self._write_refusal(item)
            return
        req = item
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
            draining = self.connections is not None and self.connections.draining
            keep_alive = req.keep_alive and not draining
            transport.write(encode_response(resp, keep_alive, req.http10, req.method == "HEAD"))
            if not keep_alive:
                self._close()
                return
            self._busy = False
            if self._queue:
                self._dispatch()
            elif self._eof:
                transport.close()
            elif self._continue_due and self._in_msg:
                self._continue_due = False
                transport.write(_CONTINUE)

        try:
            self.handler(req, respond)
        except Exception:  # a bug must not kill the connection silently
            log.exception("router error on %s %r", req.method, req.target)
            respond(json_response(500, {"error": "internal router error"}))

    def _refuse(self, refused: Refused) -> None:
        """Answer ``refused`` after the answers owed, then close; parse nothing more."""
        self._reading = False
        self._queue.append(refused)
        if not self._busy:
            self._dispatch()

    def _write_refusal(self, refused: Refused) -> None:
        if self.transport is not None:
            resp = json_response(refused.status, {"error": refused.message})
            self.transport.write(encode_response(resp, False))
            self._close()

    def _close(self) -> None:
        """Close after the last answer: shut our side, drop what still comes, then close."""
        transport = self.transport
        if transport is None:
            return
        self._reading = False
        if self._eof or not transport.can_write_eof():
            transport.close()
            return
        if self._paused:
            transport.resume_reading()
        transport.write_eof()
        self._linger = asyncio.get_running_loop().call_later(LINGER, transport.close)
