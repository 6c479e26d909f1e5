"""A recording backend for the router's wire tests (a real server thread on 127.0.0.1).

It parses what the router forwards *strictly* (CRLF lines, exactly one Content-Length or none,
no Transfer-Encoding: the router must have normalised every request) and records every request
it receives, so a test can check that the backend saw exactly the requests the client meant:
a smuggled request shows up here as an extra entry, a framing slip as a ``violations`` entry.

Each answer is 200 JSON echoing what arrived (``seq``, ``method``, ``target``, ``body``,
``headers``), so the client can also tell which request a response belongs to. Like uvicorn,
it sends ``100 Continue`` first when the request carries ``Expect: 100-continue``; a target
containing ``/interim`` gets a ``103 Early Hints`` first; a HEAD gets the headers of the GET
answer and no body; a target starting with ``/slow`` is answered after 0.3 s.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    conn: int

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Recorder:
    seen: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self._conns = 0
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self.lock:
            self.seen.clear()
            self.violations.clear()

    def snapshot(self) -> tuple[list[Seen], list[str]]:
        with self.lock:
            return list(self.seen), list(self.violations)

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns += 1
            threading.Thread(target=self._serve, args=(conn, self._conns), daemon=True).start()

    def _violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def _serve(self, conn: socket.socket, n: int) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        if buf:
                            self._violation(f"connection closed inside a head: {buf[:80]!r}")
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                seen = self._parse(head, n)
                if seen is None:
                    return
                length = (
                    int(seen.header("content-length")[0]) if seen.header("content-length") else 0
                )
                while len(buf) < length:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        self._violation("connection closed inside a body")
                        return
                    buf += data
                seen.body, buf = buf[:length], buf[length:]
                with self.lock:
                    self.seen.append(seen)
                    seq = len(self.seen)
                if seen.target.startswith("/slow"):
                    time.sleep(0.3)
                try:
                    conn.sendall(self._answer(seen, seq))
                except OSError:
                    return

    def _parse(self, head: bytes, n: int) -> Seen | None:
        lines = head.split(b"\r\n")
        if any(b"\n" in line or b"\r" in line for line in lines):
            self._violation(f"bare CR or LF in a forwarded head: {head!r}")
            return None
        parts = lines[0].split(b" ")
        if len(parts) != 3 or parts[2] != b"HTTP/1.1":
            self._violation(f"bad forwarded request line: {lines[0]!r}")
            return None
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip() or line[:1] in b" \t":
                self._violation(f"bad forwarded header line: {line!r}")
                return None
            headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
        seen = Seen(parts[0].decode(), parts[1].decode("latin-1"), headers, b"", n)
        lengths = seen.header("content-length")
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            self._violation(f"forwarded Content-Length not single and numeric: {lengths}")
            return None
        if seen.header("transfer-encoding"):
            self._violation("Transfer-Encoding forwarded to the backend")
            return None
        if len(seen.header("host")) != 1:
            self._violation("forwarded request without exactly one Host")
            return None
        return seen

    @staticmethod
    def _answer(seen: Seen, seq: int) -> bytes:
        body = json.dumps(
            {
                "seq": seq,
                "method": seen.method,
                "target": seen.target,
                "body": seen.body.decode("latin-1"),
                "headers": seen.headers,
            }
        ).encode()
        interim = b""
        if any(v.lower() == "100-continue" for v in seen.header("expect")):
            interim += b"HTTP/1.1 100 Continue\r\n\r\n"
        if "/interim" in seen.target:
            interim += b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"X-Seq: %d\r\nContent-Length: %d\r\n\r\n" % (seq, len(body))
        )
        return interim + head + (b"" if seen.method == "HEAD" else body)
