"""S3 GET over plain HTTP with AWS Signature Version 4 (no SDK in the image)."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

__all__ = ["s3_request"]

_EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_request(uri: str, now: datetime | None = None) -> tuple[str, dict[str, str]]:
    """URL and headers of a GET for ``s3://bucket/key``.

    Endpoint: ``AWS_ENDPOINT_URL`` (path-style, e.g. MinIO) or
    ``https://<bucket>.s3.<region>.amazonaws.com``. Signed when ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` are set (plus ``AWS_SESSION_TOKEN`` if present).
    """
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    path = "/" + quote(key, safe="/-_.~")
    if endpoint:
        base = endpoint.rstrip("/")
        path = f"/{bucket}{path}"
    else:
        base = f"https://{bucket}.s3.{region}.amazonaws.com"
    url = base + path
    host = urlsplit(base).netloc
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not access or not secret:
        return url, {}
    now = now or datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    headers = {"host": host, "x-amz-content-sha256": _EMPTY_SHA, "x-amz-date": stamp}
    token = os.environ.get("AWS_SESSION_TOKEN")
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "GET",
            path,
            "",
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
