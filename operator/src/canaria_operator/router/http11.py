"""HTTP/1.1 request-head rules of the router's front end, on top of llhttp (httptools).

llhttp already refuses the framing attacks (Content-Length with Transfer-Encoding, duplicate or
non-numeric Content-Length, bad chunk sizes and chunk lines, obs-fold, bare CR/LF, CTLs in
field values, space before a colon). What it lets through is checked here, once per request,
when the head is complete (RFC 9110 / 9112):

- only HTTP/1.0 and HTTP/1.1 (HTTP/0.9 is 400, any other version 505);
- exactly one valid Host in HTTP/1.1, at most one in HTTP/1.0;
- Transfer-Encoding only in HTTP/1.1 and only ``chunked`` (chunked not last: 400; another
  coding before it: 501, the router decodes none);
- a declared Content-Length over the body limit is 413 before any body is read;
- CONNECT and protocol upgrades are 501; an Expect other than 100-continue is 417;
- origin-form or absolute-form (``http(s)://authority/path``, forwarded as origin-form)
  targets, ``*`` only for OPTIONS;
- the forwarded field list drops hop-by-hop fields (RFC 9110 7.6.1: Connection, the fields
  it names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade), Expect
  (answered here), Host and Content-Length (the proxy writes its own).

Limits: request line 8 KiB (414), one field line 8 KiB, the head 32 KiB, 100 fields (431).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "HOP_BY_HOP",
    "MAX_FIELDS",
    "MAX_FIELD_LINE",
    "MAX_HEAD",
    "MAX_REQUEST_LINE",
    "Head",
    "Refused",
    "check_field",
    "connection_tokens",
    "end_to_end",
    "read_head",
]

MAX_REQUEST_LINE = 8192
MAX_FIELD_LINE = 8192
MAX_HEAD = 32768
MAX_FIELDS = 100

# hop-by-hop on every connection (plus whatever Connection names); Proxy-Authenticate and
# Proxy-Authorization belong to the proxy itself (RFC 9110 11.7)
HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    )
)
# not forwarded either: the proxy writes its own Host and Content-Length, answers Expect
_SPECIAL = HOP_BY_HOP | {b"host", b"content-length", b"expect"}
_VERSIONS = frozenset(("1.1", "1.0"))
_HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]*|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?")
_GOOD_HOSTS: set[bytes] = set()
_ABSOLUTE = re.compile(rb"https?://[^/?#]*", re.IGNORECASE)


class Refused(Exception):
    """The request cannot be served: answer ``status`` with ``message``, then close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(slots=True)
class Head:
    target: bytes  # origin-form (or ``*``)
    headers: list[tuple[bytes, bytes]]  # end-to-end fields, in order, to forward
    expects_continue: bool  # 100-continue asked for, and a body is coming


def connection_tokens(values: list[bytes]) -> set[bytes]:
    """The lower-cased options of Connection field values."""
    return {t.strip(b" \t").lower() for v in values for t in v.split(b",")} - {b""}


def end_to_end(
    fields: list[tuple[bytes, bytes]], drop: frozenset[bytes]
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """The fields to forward (those not in ``drop``, minus those that Connection names, RFC
    9110 7.6.1), and the other dropped ones (Connection aside) as (lower-cased name, value)."""
    keep: list[tuple[bytes, bytes]] = []
    dropped: list[tuple[bytes, bytes]] = []
    connection: list[bytes] = []
    for name, value in fields:
        lname = name.lower()
        if lname not in drop:
            keep.append((name, value))
        elif lname == b"connection":
            connection.append(value)
        else:
            dropped.append((lname, value))
    if connection:
        named = connection_tokens(connection)
        keep = [(k, v) for k, v in keep if k.lower() not in named]
    return keep, dropped


def read_head(
    method: bytes,
    url: bytes,
    version: str,
    fields: list[tuple[bytes, bytes]],
    *,
    upgrade: bool,
    max_body: int,
) -> Head:
    """Check a complete request head; raise ``Refused`` naming the first problem."""
    if version not in _VERSIONS:
        if version == "0.9":
            raise Refused(400, "HTTP/0.9 requests are not supported")
        raise Refused(505, f"HTTP version {version} not supported (HTTP/1.0 and 1.1 only)")
    forward, dropped = end_to_end(fields, _SPECIAL)
    hosts: list[bytes] = []
    codings: list[bytes] | None = None
    expect: bytes | None = None
    length = 0
    for name, value in dropped:
        if name == b"host":
            hosts.append(value)
        elif name == b"content-length":
            length = int(value)  # llhttp let through one at most, all digits
        elif name == b"transfer-encoding":
            codings = (codings or []) + [c.strip(b" \t").lower() for c in value.split(b",")]
        elif name == b"expect":
            expect = value.strip(b" \t").lower()
    if method == b"CONNECT":
        raise Refused(501, "CONNECT is not supported by the router")
    if upgrade:
        raise Refused(501, "protocol upgrades are not supported by the router")
    if len(hosts) != 1:
        if hosts or version == "1.1":
            raise Refused(400, "an HTTP/1.1 request needs exactly one Host header")
    elif hosts[0] not in _GOOD_HOSTS:
        _check_host(hosts[0])
    chunked = _check_codings(codings, version) if codings is not None else False
    if length > max_body:
        raise Refused(413, f"request body larger than {max_body} bytes")
    if expect is not None and expect != b"100-continue":
        raise Refused(417, f"unsupported Expect {expect.decode('latin-1')!r}")
    return Head(_origin_form(method, url), forward, expect is not None and (chunked or length > 0))


def _check_host(host: bytes) -> None:
    if _HOST.fullmatch(host) is None:
        raise Refused(400, f"invalid Host header {host.decode('latin-1')!r}")
    if len(_GOOD_HOSTS) < 256:  # a client sends the same Host every time: check it once
        _GOOD_HOSTS.add(host)


def _check_codings(codings: list[bytes], version: str) -> bool:
    if version == "1.0":
        raise Refused(400, "Transfer-Encoding in an HTTP/1.0 request (framing is ambiguous)")
    codings = [c for c in codings if c]
    if not codings or codings[-1] != b"chunked" or codings.count(b"chunked") > 1:
        raise Refused(400, "Transfer-Encoding must end in chunked, applied once")
    if len(codings) > 1:
        others = b", ".join(codings[:-1]).decode("latin-1")
        raise Refused(501, f"transfer coding {others} not supported (only chunked)")
    return True


def _origin_form(method: bytes, url: bytes) -> bytes:
    if url[:1] == b"/":
        return url
    if url == b"*" and method == b"OPTIONS":
        return url
    m = _ABSOLUTE.match(url)
    if m is None:
        raise Refused(400, "request target must be a path or an absolute http(s) URL")
    rest = url[m.end() :]
    return rest if rest[:1] == b"/" else b"/" + rest


def check_field(name: bytes, value: bytes, count: int, head_size: int) -> None:
    """Limits on one more header (or trailer) field."""
    if len(name) + len(value) > MAX_FIELD_LINE:
        raise Refused(431, f"header field {name[:64].decode('latin-1')!r} over 8 KiB")
    if count > MAX_FIELDS:
        raise Refused(431, f"more than {MAX_FIELDS} header fields")
    if head_size > MAX_HEAD:
        raise Refused(431, "request header section over 32 KiB")
