"""`canaria fetch`: copy a model to a local file, verify its SHA-256, retry with backoff.

Streams in fixed-size chunks (memory stays bounded whatever the model's size), writes to a
temporary file next to the destination and renames it only once the digest matches, so a
half-written or wrong file is never left where `canaria serve` would load it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx

from canaria_operator.fetch.directory import PREFIX as DIRECTORY_PREFIX
from canaria_operator.fetch.directory import fetch_directory
from canaria_operator.fetch.errors import FetchError
from canaria_operator.fetch.s3 import s3_request

__all__ = ["CHUNK", "fetch", "verify"]

CHUNK = 1 << 20
ENV_BEARER = "CANARIA_FETCH_BEARER_TOKEN"


def _http_chunks(url: str, headers: dict[str, str], timeout: float) -> Iterator[bytes]:
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url, headers=headers) as resp,
        ):
            if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                raise FetchError(5, f"GET {url}: HTTP {resp.status_code} (not retried)")
            if resp.status_code >= 400:
                raise FetchError(4, f"GET {url}: HTTP {resp.status_code}")
            yield from resp.iter_bytes(CHUNK)
    except httpx.HTTPError as exc:
        raise FetchError(4, f"GET {url}: {type(exc).__name__}: {exc}") from exc


def _file_chunks(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as src:
            while block := src.read(CHUNK):
                yield block
    except OSError as exc:
        raise FetchError(6, f"cannot read {path}: {exc.strerror}") from exc


def _source(uri: str, timeout: float) -> Iterator[bytes]:
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "file":
        return _file_chunks(Path(uri.removeprefix("file://")))
    if scheme in ("http", "https"):
        token = os.environ.get(ENV_BEARER)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return _http_chunks(uri, headers, timeout)
    if scheme == "s3":
        url, headers = s3_request(uri)
        return _http_chunks(url, headers, timeout)
    raise FetchError(6, f"unsupported uri {uri!r} (file://, http(s)://, s3://; pvc:// is mounted)")


def _copy(chunks: Iterator[bytes], out: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for block in chunks:
        digest.update(block)
        out.write(block)
        size += len(block)
    return digest.hexdigest(), size


def fetch(
    uri: str,
    dest: Path,
    sha256: str | None = None,
    *,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 30.0,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Fetch ``uri`` to ``dest``; returns the size. Raises :class:`FetchError`.

    A ``mlflow+http(s)://`` uri is a model directory: ``dest`` becomes a directory and
    ``sha256`` is its digest (:mod:`canaria_serving.modeldir`)."""
    if uri.startswith(DIRECTORY_PREFIX):
        return fetch_directory(
            uri,
            dest,
            sha256,
            retries=retries,
            backoff=backoff,
            timeout=timeout,
            log=log,
            sleep=sleep,
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    attempt = 0
    while True:
        attempt += 1
        try:
            with tmp.open("wb") as out:
                got, size = _copy(_source(uri, timeout), out)
            break
        except FetchError as exc:
            tmp.unlink(missing_ok=True)
            if exc.code != 4 or attempt > retries:
                if exc.code == 4:
                    raise FetchError(
                        4, f"{exc.message} (gave up after {attempt} attempts)"
                    ) from exc
                raise
            delay = backoff * 2 ** (attempt - 1)
            log(f"canaria fetch: attempt {attempt} failed: {exc.message}; retrying in {delay:g}s")
            sleep(delay)
    if sha256 is not None and got != sha256.lower():
        tmp.unlink(missing_ok=True)
        raise FetchError(3, f"sha256 mismatch for {uri}: expected {sha256.lower()}, got {got}")
    shutil.move(tmp, dest)
    return size


def verify(uri: str, sha256: str, *, timeout: float = 30.0) -> int:
    """Check the digest of the file at ``uri`` where it is, copying nothing (a ``pvc://``
    model: the claim is mounted, the pod serves it in place). Returns the size; raises
    :class:`FetchError` (code 3) when the digest differs."""
    size = 0
    digest = hashlib.sha256()
    for block in _source(uri, timeout):
        digest.update(block)
        size += len(block)
    got = digest.hexdigest()
    if got != sha256.lower():
        raise FetchError(3, f"sha256 mismatch for {uri}: expected {sha256.lower()}, got {got}")
    return size
