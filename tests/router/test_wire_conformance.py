"""What `canaria route` accepts, and what it forwards: every forwarded request is normalised
(one Content-Length, no Transfer-Encoding, hop-by-hop fields dropped, origin-form target), and
interim responses on either side never shift an answer onto the wrong request."""

from __future__ import annotations

import time

import pytest

from tests.router.conftest import Edge
from tests.router.rawhttp import (
    HOST,
    connect,
    parse,
    read_replies,
    read_to_eof,
    request,
    talk,
)

pytestmark = pytest.mark.slow
HOP = ("connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
       "proxy-connection", "expect", "x-listed")  # fmt: skip


def echo_of(raw: bytes) -> dict[str, object]:
    (reply,) = parse(raw)
    assert reply.status == 200, reply
    data: dict[str, object] = reply.json()
    return data


@pytest.mark.parametrize(
    ("te", "body"),
    [
        (b"chunked", b"3\r\nabc\r\n0\r\n\r\n"),
        (b"Chunked", b"3\r\nabc\r\n0\r\n\r\n"),
        (b"  chunked  ", b"3\r\nabc\r\n0\r\n\r\n"),  # (llhttp refuses a trailing tab)
        (b"chunked", b"A\r\n0123456789\r\n0\r\n\r\n"),
        (b"chunked", b"0003\r\nabc\r\n00\r\n\r\n"),
        (b"chunked", b'3;name=value;q="a b"\r\nabc\r\n0;end\r\n\r\n'),
        (b"chunked", b"3\r\nabc\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n"),
        (b"chunked", b"1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n"),
    ],
    ids=[
        "plain",
        "casing",
        "whitespace",
        "upper-hex",
        "leading-zeros",
        "extensions",
        "trailers",
        "many-chunks",
    ],
)
def test_chunked_bodies_are_decoded_and_forwarded_with_one_length(
    edge: Edge, te: bytes, body: bytes
) -> None:
    raw = b"POST /c HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: " + te + b"\r\n"
    raw += b"Connection: close\r\n\r\n" + body
    data = echo_of(talk(edge.port, raw))
    (seen,) = edge.seen()
    assert seen.body == data["body"].encode("latin-1")  # type: ignore[union-attr]
    assert seen.body in (b"abc", b"0123456789")
    assert seen.header("content-length") == [str(len(seen.body))]
    assert seen.header("transfer-encoding") == []
    assert seen.header("x-trailer") == []  # trailers are not promoted to header fields


def test_hop_by_hop_fields_are_not_forwarded(edge: Edge) -> None:
    raw = request(
        "POST",
        "/hop",
        "Connection: keep-alive, X-Listed",
        "Keep-Alive: timeout=5",
        "X-Listed: secret",
        "TE: trailers",
        "Trailer: X-T",
        "Upgrade: h2c",
        "Proxy-Connection: keep-alive",
        "X-End-To-End: kept",
        "X-Repeated: 1",
        "X-Repeated: 2",
        body=b"body",
        close=True,
    )
    echo_of(talk(edge.port, raw))
    (seen,) = edge.seen()
    names = {k.lower() for k, _ in seen.headers}
    assert not names & set(HOP), names
    assert seen.header("x-end-to-end") == ["kept"]
    assert seen.header("x-repeated") == ["1", "2"]
    assert seen.header("content-length") == ["4"]
    assert len(seen.header("host")) == 1


def test_reply_hop_by_hop_fields_are_not_passed_back(edge: Edge) -> None:
    (reply,) = parse(talk(edge.port, request("GET", "/r", close=True)))
    assert reply.header("x-seq") is not None
    assert reply.header("x-canaria-track") == "stable"
    assert reply.header("content-length") == str(len(reply.body))


@pytest.mark.parametrize(
    ("target", "forwarded"),
    [
        ("http://router.test/v2/models/m/infer?x=1", "/v2/models/m/infer?x=1"),
        ("https://router.test:8443/a/b", "/a/b"),
        ("http://router.test", "/"),
        ("http://router.test?x=1", "/?x=1"),
        ("/plain?x=1", "/plain?x=1"),
    ],
)
def test_absolute_form_targets_are_forwarded_in_origin_form(
    edge: Edge, target: str, forwarded: str
) -> None:
    data = echo_of(talk(edge.port, request("GET", target, close=True)))
    assert data["target"] == forwarded
    assert [s.target for s in edge.seen()] == [forwarded]


def test_own_endpoints_in_absolute_form(edge: Edge) -> None:
    (reply,) = parse(talk(edge.port, request("GET", "http://router.test/healthz", close=True)))
    assert reply.json() == {"status": "live"}
    assert edge.seen() == []


def test_options_asterisk_is_forwarded(edge: Edge) -> None:
    data = echo_of(talk(edge.port, request("OPTIONS", "*", close=True)))
    assert data["target"] == "*"


def test_expect_100_continue_waits_for_the_go_ahead(edge: Edge) -> None:
    """The client sends its body only after ``100 Continue``; the backend is not asked to
    send another (and its interim answer never stands in for the final one)."""
    body = b'{"big": "body"}'
    with connect(edge.port) as sock:
        for i in range(3):  # the same pooled backend connection keeps its framing
            head = b"POST /e%d HTTP/1.1\r\n" % i + HOST
            sock.sendall(head + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            sock.settimeout(2)
            interim = sock.recv(65536)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(body)
            (reply,) = read_replies(sock, 1)
            assert reply.json()["target"] == f"/e{i}"
            assert reply.json()["body"] == body.decode()
    assert [s.header("expect") for s in edge.seen()] == [[], [], []]


def test_expect_100_continue_with_the_body_already_sent(edge: Edge) -> None:
    raw = request("POST", "/eager", "Expect: 100-continue", body=b"abc")
    raw += request("POST", "/next", body=b"def", close=True)
    replies = parse(talk(edge.port, raw))
    finals = [r for r in replies if r.status >= 200]
    assert [r.json()["target"] for r in finals] == ["/eager", "/next"]
    assert all(r.status == 100 for r in replies if r.status < 200)
    assert [s.target for s in edge.seen()] == ["/eager", "/next"]


def test_expect_100_continue_without_a_body_gets_no_interim(edge: Edge) -> None:
    (reply,) = parse(talk(edge.port, request("GET", "/nobody", "Expect: 100-continue", close=True)))
    assert reply.status == 200


def test_expect_100_continue_behind_a_slow_request(edge: Edge) -> None:
    """The 100 must not overtake the answer to an earlier pipelined request."""
    with connect(edge.port) as sock:
        sock.sendall(request("POST", "/slow", body=b"1"))
        sock.sendall(b"POST /later HTTP/1.1\r\n" + HOST + b"Expect: 100-continue\r\n"
                     b"Content-Length: 3\r\n\r\n")  # fmt: skip
        replies = read_replies(sock, 1)
        assert replies[0].json()["target"] == "/slow"
        time.sleep(0.1)
        sock.sendall(b"xyz" + request("GET", "/end", close=True))
        rest = parse(read_to_eof(sock))
    assert [r.status for r in replies + rest] in ([200, 100, 200, 200], [200, 200, 200])
    assert [r.json()["target"] for r in replies + rest if r.status == 200] == [
        "/slow",
        "/later",
        "/end",
    ]


def test_backend_interim_responses_are_not_final_answers(edge: Edge) -> None:
    raw = request("GET", "/interim/1") + request("GET", "/interim/2") + request("GET", "/x")
    replies = parse(talk(edge.port, raw + request("GET", "/y", close=True)))
    assert [r.json()["target"] for r in replies if r.status == 200] == [
        "/interim/1",
        "/interim/2",
        "/x",
        "/y",
    ]


def test_head_is_answered_without_a_body_and_keeps_framing(edge: Edge) -> None:
    raw = talk(edge.port, request("HEAD", "/h") + request("GET", "/after-head", close=True))
    head, get = parse(raw, heads=frozenset({0}))
    assert head.status == 200
    assert head.body == b""
    assert int(head.header("content-length") or 0) > 0  # the length a GET would have
    assert get.json()["target"] == "/after-head"
    assert [s.method for s in edge.seen()] == ["HEAD", "GET"]


def test_large_body_within_the_limit(edge: Edge) -> None:
    body = bytes(range(256)) * 200  # 51,200 bytes, every byte value
    data = echo_of(talk(edge.port, request("POST", "/big", body=body, close=True)))
    assert data["body"] == body.decode("latin-1")


def test_leading_empty_line_is_ignored(edge: Edge) -> None:
    data = echo_of(talk(edge.port, b"\r\n" + request("GET", "/lead", close=True)))
    assert data["target"] == "/lead"
