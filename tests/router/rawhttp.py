"""Exact bytes to the router over a raw socket, and a strict reader of what comes back."""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

HOST = b"Host: router.test\r\n"
_STATUS = re.compile(rb"HTTP/1\.1 (\d{3}) [\x21-\x7e][\x20-\x7e]*")


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"{name} repeated in a reply: {values}"
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def closes(self) -> bool:
        return (self.header("connection") or "").lower() == "close"


def request(
    method: str,
    target: str,
    *headers: str,
    body: bytes = b"",
    version: str = "HTTP/1.1",
    close: bool = False,
) -> bytes:
    """One well-formed request with Host and (for a body) Content-Length."""
    lines = [f"{method} {target} {version}".encode(), HOST.rstrip(b"\r\n")]
    lines += [h.encode("latin-1") for h in headers]
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunked(target: str, *chunks: bytes, trailer: bytes = b"", close: bool = False) -> bytes:
    head = b"POST " + target.encode() + b" HTTP/1.1\r\n" + HOST
    head += b"Transfer-Encoding: chunked\r\n" + (b"Connection: close\r\n" if close else b"")
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return head + b"\r\n" + body + b"0\r\n" + trailer + b"\r\n"


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_to_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything until the router closes; AssertionError if it does not close in time."""
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the router did not close the connection; got {out!r}") from None
        if not data:
            return out
        out += data


def talk(
    port: int, *pieces: bytes, pause: float = 0.0, half_close: bool = False, timeout: float = 5.0
) -> bytes:
    """Send ``pieces`` (``pause`` seconds apart) on one connection; return all bytes until EOF."""
    with connect(port, timeout) as sock:
        for i, piece in enumerate(pieces):
            if i and pause:
                time.sleep(pause)
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # the router closed early (an error): read what it said
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_to_eof(sock, timeout)


def read_replies(sock: socket.socket, n: int, timeout: float = 5.0) -> list[Reply]:
    """Read exactly ``n`` final replies from a connection that stays open."""
    sock.settimeout(timeout)
    buf = b""
    while True:
        try:
            replies = parse(buf)
        except AssertionError:
            replies = []
        if len(finals(replies)) >= n:
            assert len(finals(replies)) == n, replies
            return replies
        data = sock.recv(65536)
        assert data, f"the router closed after {buf!r}"
        buf += data


def parse(raw: bytes, heads: frozenset[int] = frozenset()) -> list[Reply]:
    """Split a byte stream into replies, strictly: every final reply carries exactly one
    Content-Length (the router never sends chunked or close-delimited replies), and nothing
    is left over. ``heads``: indexes of final replies that answer HEAD (no body)."""
    out: list[Reply] = []
    final = 0
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"truncated reply: {raw!r}"
        lines = head.split(b"\r\n")
        m = _STATUS.fullmatch(lines[0])
        assert m, f"bad status line: {lines[0]!r}"
        status = int(m.group(1))
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            assert colon, f"bad reply header: {line!r}"
            assert name, f"bad reply header: {line!r}"
            assert b" " not in name, f"bad reply header: {line!r}"
            headers.append((name.decode(), value.strip().decode("latin-1")))
        reply = Reply(status, headers, b"")
        assert reply.header("transfer-encoding") is None
        if status >= 200:
            length = reply.header("content-length")
            if final in heads or status in (204, 304):
                n = 0
            else:
                assert length is not None, f"no Content-Length: {head!r}"
                assert length.isdigit(), f"bad Content-Length: {head!r}"
                n = int(length)
            assert len(rest) >= n, f"truncated body: {rest!r}"
            reply.body, rest = rest[:n], rest[n:]
            final += 1
        out.append(reply)
        raw = rest
    return out


def finals(replies: list[Reply]) -> list[Reply]:
    return [r for r in replies if r.status >= 200]
