"""S3 GET over plain HTTP with AWS Signature Version 4 (no SDK in the image)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

__all__ = ["parse_listing", "s3_list_request", "s3_request"]

_EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_request(
    uri: str,
    now: datetime | None = None,
    *,
    env: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """URL and headers of a GET for ``s3://bucket/key`` (with ``query``: e.g. a
    ListObjectsV2 of the bucket, ``s3://bucket/`` with ``{"list-type": "2", "prefix": ...}``).

    Endpoint: ``AWS_ENDPOINT_URL`` (path-style, e.g. MinIO) or
    ``https://<bucket>.s3.<region>.amazonaws.com``. Signed when ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` are set (plus ``AWS_SESSION_TOKEN`` if present), read from
    ``env`` (default: the process environment).
    """
    env = os.environ if env is None else env
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = env.get("AWS_ENDPOINT_URL")
    path = "/" + quote(key, safe="/-_.~")
    if endpoint:
        base = endpoint.rstrip("/")
        path = f"/{bucket}{path}"
    else:
        base = f"https://{bucket}.s3.{region}.amazonaws.com"
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted((query or {}).items())
    )
    url = base + path + (f"?{canonical_query}" if canonical_query else "")
    host = urlsplit(base).netloc
    access, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        return url, {}
    now = now or datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": _EMPTY_SHA, "x-amz-date": stamp}
    token = env.get("AWS_SESSION_TOKEN")
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "GET",
            path,
            canonical_query,
            "".join(f"{n}:{headers[n]}\n" for n in names),
            ";".join(names),
            _EMPTY_SHA,
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key_ = _sign(_sign(_sign(_sign(f"AWS4{secret}".encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key_, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    del headers["host"]
    return url, headers


def s3_list_request(
    bucket: str,
    prefix: str,
    token: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """A signed ListObjectsV2 of ``prefix`` (continued from ``token``)."""
    query = {"list-type": "2", "prefix": prefix}
    if token:
        query["continuation-token"] = token
    return s3_request(f"s3://{bucket}/", env=env, query=query)


def parse_listing(xml: bytes) -> tuple[list[tuple[str, int]], str | None]:
    """(key, size) of each object of a ListObjectsV2 answer, and the continuation token."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    ns = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
    found = [
        (c.findtext(f"{ns}Key") or "", int(c.findtext(f"{ns}Size") or 0))
        for c in root.iter(f"{ns}Contents")
    ]
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    return found, root.findtext(f"{ns}NextContinuationToken") if truncated else None
