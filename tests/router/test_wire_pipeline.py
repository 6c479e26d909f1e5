"""Pipelining and connection semantics of `canaria route`, checked on both sides: every
response must answer the request the client meant (in order, with its own body), and the
backend must have received exactly those requests."""

from __future__ import annotations

import socket

import pytest

from tests.router.conftest import Edge
from tests.router.rawhttp import chunked, connect, parse, read_replies, read_to_eof, request, talk

pytestmark = pytest.mark.slow

PIPELINE = (
    request("POST", "/one?q=1", "Content-Type: application/json", body=b'{"n": 1}')
    + chunked("/two", b"hello ", b"world", trailer=b"X-Checksum: 1\r\n")
    + request("GET", "/three", close=True)
)
EXPECTED = [("POST", "/one?q=1", b'{"n": 1}'), ("POST", "/two", b"hello world"),
            ("GET", "/three", b"")]  # fmt: skip


def check(edge: Edge, raw: bytes, expected: list[tuple[str, str, bytes]]) -> None:
    replies = parse(raw)
    assert [r.status for r in replies] == [200] * len(expected), replies
    echoed = [(r.json()["method"], r.json()["target"], r.json()["body"].encode("latin-1"))
              for r in replies]  # fmt: skip
    assert echoed == expected
    seen = edge.seen()
    assert [(s.method, s.target, s.body) for s in seen] == expected
    assert [r.header("x-seq") for r in replies] == [str(r.json()["seq"]) for r in replies]


def test_pipeline_in_one_write(edge: Edge) -> None:
    check(edge, talk(edge.port, PIPELINE), EXPECTED)


def test_pipeline_split_at_every_byte(edge: Edge) -> None:
    """Two writes, split at each of the pipeline's byte boundaries in turn."""
    for split in range(1, len(PIPELINE)):
        edge.backend.reset()
        raw = talk(edge.port, PIPELINE[:split], PIPELINE[split:], pause=0.002)
        try:
            check(edge, raw, EXPECTED)
        except AssertionError as exc:
            raise AssertionError(f"split at byte {split}: {exc}") from exc


def test_pipeline_one_byte_at_a_time(edge: Edge) -> None:
    pieces = [PIPELINE[i : i + 1] for i in range(len(PIPELINE))]
    check(edge, talk(edge.port, *pieces, pause=0.0005, timeout=20), EXPECTED)


def test_many_pipelined_requests_answered_in_order(edge: Edge) -> None:
    n = 100
    raw = b"".join(request("POST", f"/p{i}", body=b"%d" % i) for i in range(n))
    raw += request("GET", "/last", close=True)
    expected = [("POST", f"/p{i}", b"%d" % i) for i in range(n)] + [("GET", "/last", b"")]
    check(edge, talk(edge.port, raw), expected)


@pytest.mark.parametrize(
    "bad",
    [
        b"POST /bad HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"GET /bad HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
        b"POST /bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /bad HTTP/1.1\r\n\r\n",
        b"GET /bad HTTP/2.0\r\nHost: x\r\n\r\n",
        b"\x00\x01\x02",
    ],
    ids=["cl-and-te", "obs-fold", "bad-chunk-size", "no-host", "http2", "binary"],
)
@pytest.mark.parametrize("first", ["/fast", "/slow"])
def test_good_then_malformed_in_one_pipeline(edge: Edge, bad: bytes, first: str) -> None:
    """The good request is answered first, then the error, then the connection closes."""
    raw = talk(edge.port, request("POST", first, body=b"ok") + bad)
    good, error = parse(raw)
    assert good.status == 200
    assert good.json()["target"] == first
    assert error.status >= 400
    assert "error" in error.json()
    assert error.closes
    assert [s.target for s in edge.seen(0.6)] == [first]


def test_nothing_after_connection_close_is_processed(edge: Edge) -> None:
    raw = talk(edge.port, request("GET", "/closing", close=True) + request("GET", "/after"))
    (reply,) = parse(raw)
    assert reply.json()["target"] == "/closing"
    assert reply.closes
    assert [s.target for s in edge.seen(0.2)] == ["/closing"]


def test_keep_alive_by_default_in_http11(edge: Edge) -> None:
    with connect(edge.port) as sock:
        for i in range(3):
            sock.sendall(request("POST", f"/k{i}", body=b"x" * i))
            (reply,) = read_replies(sock, 1)
            assert reply.json()["target"] == f"/k{i}"
            assert not reply.closes
        sock.sendall(request("GET", "/end", close=True))
        (reply,) = parse(read_to_eof(sock))
        assert reply.closes
    assert [s.target for s in edge.seen()] == ["/k0", "/k1", "/k2", "/end"]


def test_http10_closes_unless_keep_alive(edge: Edge) -> None:
    (reply,) = parse(talk(edge.port, request("GET", "/ten", version="HTTP/1.0")))
    assert reply.closes
    with connect(edge.port) as sock:
        sock.sendall(request("GET", "/ka", "Connection: keep-alive", version="HTTP/1.0"))
        (reply,) = read_replies(sock, 1)
        assert (reply.header("connection") or "").lower() == "keep-alive"
        sock.sendall(request("GET", "/ka2", version="HTTP/1.0"))
        (reply,) = parse(read_to_eof(sock))
        assert reply.json()["target"] == "/ka2"
        assert reply.closes
    assert [s.target for s in edge.seen()] == ["/ten", "/ka", "/ka2"]


def test_client_half_close_still_gets_its_answers(edge: Edge) -> None:
    raw = talk(
        edge.port, request("POST", "/h1", body=b"a") + request("GET", "/h2"), half_close=True
    )
    assert [r.json()["target"] for r in parse(raw)] == ["/h1", "/h2"]


def test_connection_close_in_a_list(edge: Edge) -> None:
    (reply,) = parse(talk(edge.port, request("GET", "/list", "Connection: keep-alive, close")))
    assert reply.closes


def test_error_reply_is_readable_before_close(edge: Edge) -> None:
    """A client still sending when it is refused must read the error (no reset)."""
    with connect(edge.port) as sock:
        sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n")
        sock.sendall(b"y" * 200_000)  # unread by the router: a plain close would reset
        sock.shutdown(socket.SHUT_WR)
        (reply,) = parse(read_to_eof(sock))
    assert reply.status == 400
