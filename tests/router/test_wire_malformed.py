"""Request smuggling and malformed input against a real `canaria route` process.

Every request here is malformed or ambiguous (most carry a smuggled second request after the
ambiguous part). Each must get exactly one JSON error naming the problem, ``Connection:
close``, the connection closed, and the backend must have received nothing at all.

Status policy (also in README.md): 400 for malformed framing, headers or request lines;
413 for a declared or received body over ``--max-body``; 414 for a request line over 8 KiB;
431 for a header line over 8 KiB, a head over 32 KiB or more than 100 header fields;
501 for transfer codings other than chunked, CONNECT and protocol upgrades; 505 for
HTTP versions other than 1.0 and 1.1; 417 for an Expect other than 100-continue.

Two leniencies of llhttp are left (neither changes where a message ends): repeated spaces
between the parts of the request line, and ``RTSP/1.0`` as protocol name (read as HTTP/1.0).
"""

from __future__ import annotations

import pytest

from tests.router.conftest import EDGE_MAX_BODY, Edge
from tests.router.rawhttp import parse, talk

pytestmark = pytest.mark.slow

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: router.test\r\n\r\n"
POST = b"POST /m HTTP/1.1\r\nHost: router.test\r\n"
POST10 = b"POST /m HTTP/1.0\r\nHost: router.test\r\n"
TE = b"Transfer-Encoding: chunked\r\n"
GET = b"GET /m HTTP/1.1\r\nHost: router.test\r\n"


def te(value: bytes) -> bytes:
    return POST + b"Transfer-Encoding: " + value + b"\r\n\r\n0\r\n\r\n" + SMUGGLED


def cl(value: bytes) -> bytes:
    return POST + b"Content-Length: " + value + b"\r\n\r\nabc" + SMUGGLED


def chunks(body: bytes) -> bytes:
    return POST + TE + b"\r\n" + body + SMUGGLED


def header(line: bytes) -> bytes:
    return GET + line + b"\r\n\r\n" + SMUGGLED


def line(text: bytes) -> bytes:
    return text + b"\r\nHost: router.test\r\n\r\n" + SMUGGLED


# (id, bytes, status, words the error must contain)
CASES: list[tuple[str, bytes, int, str]] = [
    # Content-Length and Transfer-Encoding together
    ("cl-then-te", POST + b"Content-Length: 44\r\n" + TE + b"\r\n0\r\n\r\n" + SMUGGLED, 400,
     "content-length"),
    ("te-then-cl", POST + TE + b"Content-Length: 5\r\n\r\n0\r\n\r\n" + SMUGGLED, 400,
     "content-length"),
    ("cl-te-uppercase", POST + b"Content-Length: 5\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n"
     + SMUGGLED, 400, "content-length"),
    ("cl-te-whitespace", POST + b"Content-Length: 5\r\nTransfer-Encoding: \t chunked \r\n\r\n"
     b"0\r\n\r\n" + SMUGGLED, 400, "content-length"),
    ("cl-te-chunked-identity", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked, "
     b"identity\r\n\r\n0\r\n\r\n" + SMUGGLED, 400, ""),
    ("te-http10", POST10 + TE + b"\r\n3\r\nabc\r\n0\r\n\r\n" + SMUGGLED, 400, "http/1.0"),
    ("te-cl-http10", POST10 + TE + b"Content-Length: 5\r\n\r\n0\r\n\r\n" + SMUGGLED, 400, ""),
    # Transfer-Encoding values
    ("te-chunked-identity", te(b"chunked, identity"), 400, "transfer-encoding"),
    ("te-identity", te(b"identity"), 400, "transfer-encoding"),
    ("te-gzip", te(b"gzip"), 400, "transfer-encoding"),
    ("te-xchunked", te(b"xchunked"), 400, "transfer-encoding"),
    ("te-chunked-param", te(b"chunked;q=1"), 400, "transfer-encoding"),
    ("te-vertical-tab", te(b"\x0bchunked"), 400, "header value"),
    ("te-chunked-twice", POST + TE + TE + b"\r\n0\r\n\r\n" + SMUGGLED, 400, "transfer-encoding"),
    ("te-chunked-then-gzip", POST + TE + b"Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n" + SMUGGLED,
     400, "transfer-encoding"),
    ("te-gzip-chunked", te(b"gzip, chunked"), 501, "transfer coding"),
    ("te-gzip-then-chunked", POST + b"Transfer-Encoding: gzip\r\n" + TE + b"\r\n0\r\n\r\n"
     + SMUGGLED, 501, "transfer coding"),
    ("te-space-before-colon", POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
     400, "header"),
    # Content-Length values
    ("cl-duplicate-equal", POST + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
     + SMUGGLED, 400, "content-length"),
    ("cl-duplicate-differing", POST + b"Content-Length: 3\r\nContent-Length: 48\r\n\r\nabc"
     + SMUGGLED, 400, "content-length"),
    ("cl-list-equal", cl(b"3, 3"), 400, "content-length"),
    ("cl-list-differing", cl(b"3, 48"), 400, "content-length"),
    ("cl-negative", cl(b"-3"), 400, "content-length"),
    ("cl-plus", cl(b"+3"), 400, "content-length"),
    ("cl-non-numeric", cl(b"abc"), 400, "content-length"),
    ("cl-hex", cl(b"0x3"), 400, "content-length"),
    ("cl-decimal", cl(b"3.0"), 400, "content-length"),
    ("cl-two-numbers", cl(b"3 4"), 400, "content-length"),
    ("cl-empty", cl(b""), 400, "content-length"),
    ("cl-overflow", cl(b"99999999999999999999999"), 400, "content-length"),
    ("cl-over-max-body", cl(b"1099511627776"), 413, f"larger than {EDGE_MAX_BODY}"),
    # chunk sizes, chunk lines and trailers
    ("chunk-hex-overflow", chunks(b"100000000000000003\r\nabc\r\n0\r\n\r\n"), 400, "chunk size"),
    ("chunk-all-f", chunks(b"fffffffffffffffff\r\nabc\r\n0\r\n\r\n"), 400, "chunk size"),
    ("chunk-negative", chunks(b"-3\r\nabc\r\n0\r\n\r\n"), 400, "chunk size"),
    ("chunk-0x", chunks(b"0x3\r\nabc\r\n0\r\n\r\n"), 400, "chunk size"),
    ("chunk-trailing-space", chunks(b"3 \r\nabc\r\n0\r\n\r\n"), 400, "chunk size"),
    ("chunk-leading-space", chunks(b" 3\r\nabc\r\n0\r\n\r\n"), 400, "chunk size"),
    ("chunk-empty-size", chunks(b"\r\nabc\r\n0\r\n\r\n"), 400, "chunk size"),
    ("chunk-missing-crlf", chunks(b"3\r\nabcXX0\r\n\r\n"), 400, "chunk data"),
    ("chunk-data-too-long", chunks(b"3\r\nabcdef\r\n0\r\n\r\n"), 400, "chunk data"),
    ("chunk-bare-lf-size", chunks(b"3\nabc\r\n0\r\n\r\n"), 400, "cr"),
    ("chunk-bare-lf-data", chunks(b"3\r\nabc\n0\r\n\r\n"), 400, "chunk data"),
    ("chunk-bare-lf-last", chunks(b"3\r\nabc\r\n0\n\n"), 400, "cr"),
    ("chunk-ext-bare-lf", chunks(b"3;a=b\nabc\r\n0\r\n\r\n"), 400, "chunk extension"),
    ("chunk-ext-ctl", chunks(b"3;a=\x01\r\nabc\r\n0\r\n\r\n"), 400, "chunk extension"),
    ("chunk-ext-no-name", chunks(b"3;\r\nabc\r\n0\r\n\r\n"), 400, "chunk extension"),
    ("chunk-last-unterminated", chunks(b"3\r\nabc\r\n0\r\n"), 400, "header"),
    ("trailer-obs-fold", chunks(b"0\r\nX-T: a\r\n b\r\n\r\n"), 400, "whitespace"),
    ("trailer-no-colon", chunks(b"0\r\nX-T\r\n\r\n"), 400, "header"),
    ("trailer-content-length", chunks(b"3\r\nabc\r\n0\r\nContent-Length: 48\r\n\r\n"), 400,
     "content-length"),
    # header lines
    ("obs-fold-space", header(b"X-A: b\r\n c"), 400, "whitespace"),
    ("obs-fold-tab", header(b"X-A: b\r\n\tc"), 400, "whitespace"),
    ("fold-after-request-line", b"GET /m HTTP/1.1\r\n Host: router.test\r\n\r\n" + SMUGGLED,
     400, "space"),
    ("space-before-colon", POST + b"Content-Length : 3\r\n\r\nabc" + SMUGGLED, 400, "header"),
    ("tab-before-colon", POST + b"Content-Length\t: 3\r\n\r\nabc" + SMUGGLED, 400, "header"),
    ("space-in-name", header(b"X A: b"), 400, "header"),
    ("empty-name", header(b": b"), 400, "header"),
    ("no-colon", header(b"X-A"), 400, "header"),
    ("name-separator", header(b"X(A): b"), 400, "header"),
    ("nul-in-name", header(b"X-\x00A: b"), 400, "header"),
    ("nul-in-value", header(b"X-A: b\x00c"), 400, "header value"),
    ("cr-in-value", header(b"X-A: b\rc"), 400, ""),
    ("del-in-value", header(b"X-A: b\x7fc"), 400, "header value"),
    ("ctl-in-value", header(b"X-A: b\x01c"), 400, "header value"),
    ("bare-lf-lines", b"GET /m HTTP/1.1\nHost: router.test\n\n" + SMUGGLED, 400, ""),
    ("bare-lf-header", GET + b"X-A: b\nX-B: c\r\n\r\n" + SMUGGLED, 400, ""),
    ("bare-lf-end", GET + b"\n" + SMUGGLED, 400, ""),
    ("no-host", b"GET /m HTTP/1.1\r\n\r\n" + SMUGGLED, 400, "host"),
    ("two-hosts", header(b"Host: other.test"), 400, "host"),
    ("host-with-path", b"GET /m HTTP/1.1\r\nHost: a/b\r\n\r\n" + SMUGGLED, 400, "host"),
    ("host-with-space", b"GET /m HTTP/1.1\r\nHost: a b\r\n\r\n" + SMUGGLED, 400, "host"),
    # request lines
    ("http09", b"GET /m\r\n\r\n" + SMUGGLED, 400, "http/0.9"),
    ("http12", line(b"GET /m HTTP/1.2"), 505, "version"),
    ("http20", line(b"GET /m HTTP/2.0"), 505, "version"),
    ("http30", line(b"GET /m HTTP/3.0"), 505, "version"),
    ("h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "version"),
    ("http110", line(b"GET /m HTTP/1.10"), 400, "version"),
    ("http011", line(b"GET /m HTTP/01.1"), 400, ""),
    ("lowercase-http", line(b"GET /m http/1.1"), 400, "http/"),
    ("trailing-space", line(b"GET /m HTTP/1.1 "), 400, ""),
    ("space-in-target", line(b"GET /a b HTTP/1.1"), 400, ""),
    ("ctl-in-target", line(b"GET /a\x01b HTTP/1.1"), 400, "url"),
    ("non-ascii-target", line(b"GET /\xc3\xa9 HTTP/1.1"), 400, "url"),
    ("relative-target", line(b"GET m HTTP/1.1"), 400, "url"),
    ("bad-method", line(b"G@T /m HTTP/1.1"), 400, "method"),
    ("lowercase-method", line(b"get /m HTTP/1.1"), 400, "method"),
    ("connect", b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n" + SMUGGLED, 501,
     "connect"),
    ("upgrade", GET + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + SMUGGLED, 501,
     "upgrade"),
    ("expect-other", POST + b"Expect: 200-ok\r\nContent-Length: 3\r\n\r\nabc" + SMUGGLED, 417,
     "expect"),
    # limits
    ("long-request-line", line(b"GET /" + b"a" * 9000 + b" HTTP/1.1"), 414, "request line"),
    ("long-header", header(b"X-A: " + b"a" * 9000), 431, "header"),
    ("too-many-headers", GET + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n"
     + SMUGGLED, 431, "header"),
    ("large-head", GET + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(40))
     + b"\r\n" + SMUGGLED, 431, "header"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "status", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_malformed_request_is_refused_and_never_forwarded(
    edge: Edge, raw: bytes, status: int, words: str
) -> None:
    (reply,) = parse(talk(edge.port, raw))
    assert reply.status == status, reply
    assert reply.header("content-type") == "application/json"
    error = reply.json()["error"]
    assert isinstance(error, str)
    assert words in error.lower(), error
    assert reply.closes
    assert edge.seen() == []


@pytest.mark.parametrize("split", [1, 7, 20, 41, 60])
def test_malformed_request_split_anywhere_is_refused(edge: Edge, split: int) -> None:
    raw = POST + b"Content-Length: 44\r\n" + TE + b"\r\n0\r\n\r\n" + SMUGGLED
    (reply,) = parse(talk(edge.port, raw[:split], raw[split:], pause=0.02))
    assert reply.status == 400
    assert edge.seen() == []


def test_chunked_body_over_max_body_is_413(edge: Edge) -> None:
    body = b"".join(b"1000\r\n" + b"x" * 4096 + b"\r\n" for _ in range(20))  # 80 KiB
    (reply,) = parse(talk(edge.port, POST + TE + b"\r\n" + body + b"0\r\n\r\n" + SMUGGLED))
    assert reply.status == 413
    assert f"larger than {EDGE_MAX_BODY}" in reply.json()["error"]
    assert edge.seen() == []


def test_endless_head_is_cut_off(edge: Edge) -> None:
    """Header lines streamed without end: 431 long before 1 MiB, not an unbounded buffer."""
    with_pad = [GET] + [b"X-Pad-%d: %s\r\n" % (i, b"p" * 4000) for i in range(256)]
    (reply,) = parse(talk(edge.port, *with_pad, pause=0.001, timeout=10))
    assert reply.status == 431
    assert edge.seen() == []
