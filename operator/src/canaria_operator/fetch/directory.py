"""`canaria fetch mlflow+http(s)://...` or `mlflow+s3://...`: a whole MLflow model directory
(``MLmodel``, ``model.onnx`` and its external data files).

``mlflow+http(s)://HOST/api/2.0/mlflow-artifacts/artifacts/DIR``: through the tracking
server's artifact proxy, listed recursively (``GET ...?path=``); credentials
``MLFLOW_TRACKING_TOKEN`` or ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``.
``mlflow+s3://BUCKET/PREFIX``: straight from the artifact store (a tracking server without
``--serve-artifacts``), listed with ListObjectsV2 and signed with SigV4 (``AWS_*`` variables,
``AWS_ENDPOINT_URL`` for MinIO and the like). Either way the variables come from the
registry's Secret (``envFrom``). Every file is streamed into a temporary directory next to
``dest``, the digest of the whole (:mod:`canaria_serving.modeldir`) is checked, and the
directory is renamed into place only when it matches.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

from canaria_operator.fetch.errors import FetchError
from canaria_operator.fetch.s3 import parse_listing, s3_list_request, s3_request
from canaria_serving.modeldir import directory_digest

__all__ = ["PREFIX", "fetch_directory"]

PREFIX = "mlflow+"
_API = "/api/2.0/mlflow-artifacts/artifacts"
_CHUNK = 1 << 20
_MAX_FILES = 10_000


def _client(timeout: float) -> httpx.Client:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    auth = None
    if not token and user:
        auth = httpx.BasicAuth(user, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    return httpx.Client(timeout=timeout, headers=headers, auth=auth, follow_redirects=True)


def _check(resp: httpx.Response, what: str) -> None:
    if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
        raise FetchError(5, f"{what}: HTTP {resp.status_code} (not retried)")
    if resp.status_code >= 400:
        raise FetchError(4, f"{what}: HTTP {resp.status_code}")


def _list(client: httpx.Client, base: str, root: str) -> list[str]:
    found: list[str] = []
    pending = [""]
    while pending:
        sub = pending.pop()
        path = f"{root}/{sub}".rstrip("/")
        resp = client.get(f"{base}{_API}", params={"path": path})
        _check(resp, f"list {base}{_API}?path={path}")
        for entry in resp.json().get("files") or []:
            rel = _safe(f"{sub}/{entry['path'].rsplit('/', 1)[-1]}".lstrip("/"), entry["path"])
            (pending if entry.get("is_dir") else found).append(rel)
        if len(found) > _MAX_FILES:
            raise FetchError(5, f"{base}{_API}/{root}: more than {_MAX_FILES} files")
    if not found:
        raise FetchError(5, f"{base}{_API}/{root}: no files (not found or empty)")
    return sorted(found)


def _safe(rel: str, what: str) -> str:
    if rel in ("", ".", "..") or ".." in rel.split("/") or rel.startswith("/"):
        raise FetchError(5, f"refusing the artifact path {what!r}")
    return rel


def _stream(client: httpx.Client, url: str, headers: dict[str, str], target: Path) -> int:
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with client.stream("GET", url, headers=headers) as resp, target.open("wb") as out:
        _check(resp, f"GET {url.split('?', 1)[0]}")
        for block in resp.iter_bytes(_CHUNK):
            out.write(block)
            size += len(block)
    return size


def _download_s3(uri: str, tmp: Path, timeout: float) -> int:
    bucket, _, prefix = uri.removeprefix(f"{PREFIX}s3://").partition("/")
    prefix = prefix.strip("/") + "/"
    keys: list[str] = []
    token: str | None = None
    size = 0
    with httpx.Client(timeout=timeout) as client:
        while True:
            url, headers = s3_list_request(bucket, prefix, token)
            resp = client.get(url, headers=headers)
            _check(resp, f"list s3://{bucket}/{prefix}")
            found, token = parse_listing(resp.content)
            keys += [k for k, _ in found if not k.endswith("/")]
            if token is None or len(keys) > _MAX_FILES:
                break
        if not keys or len(keys) > _MAX_FILES:
            raise FetchError(5, f"s3://{bucket}/{prefix}: {len(keys)} files (none, or too many)")
        for key in keys:
            rel = _safe(key.removeprefix(prefix), key)
            url, headers = s3_request(f"s3://{bucket}/{key}")
            size += _stream(client, url, headers, tmp / rel)
    return size


def _download_all(uri: str, tmp: Path, timeout: float) -> int:
    try:
        if uri.startswith(f"{PREFIX}s3://"):
            return _download_s3(uri, tmp, timeout)
        return _download_proxy(uri, tmp, timeout)
    except httpx.HTTPError as exc:
        raise FetchError(4, f"GET {uri}: {type(exc).__name__}: {exc}") from exc


def _download_proxy(uri: str, tmp: Path, timeout: float) -> int:
    url = uri.removeprefix(PREFIX)
    base, sep, root = url.partition(_API)
    if not sep:
        raise FetchError(6, f"{uri}: not an MLflow artifact proxy location ({_API}/...)")
    root = root.strip("/")
    size = 0
    with _client(timeout) as client:
        for rel in _list(client, base, root):
            file_url = f"{base}{_API}/{quote(f'{root}/{rel}', safe='/-_.~')}"
            size += _stream(client, file_url, {}, tmp / rel)
    return size


def fetch_directory(
    uri: str,
    dest: Path,
    digest: str | None,
    *,
    retries: int,
    backoff: float,
    timeout: float,
    log: Callable[[str], None],
    sleep: Callable[[float], None],
) -> int:
    """Fetch the directory at ``uri`` to ``dest`` (a directory); returns the bytes copied."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    attempt = 0
    while True:
        attempt += 1
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            size = _download_all(uri, tmp, timeout)
            break
        except FetchError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.code != 4 or attempt > retries:
                if exc.code == 4:
                    msg = f"{exc.message} (gave up after {attempt} attempts)"
                    raise FetchError(4, msg) from exc
                raise
            delay = backoff * 2 ** (attempt - 1)
            log(f"canaria fetch: attempt {attempt} failed: {exc.message}; retrying in {delay:g}s")
            sleep(delay)
    got = directory_digest(tmp)
    if digest is not None and got != digest.lower():
        shutil.rmtree(tmp, ignore_errors=True)
        raise FetchError(3, f"sha256 mismatch for {uri}: expected {digest.lower()}, got {got}")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return size
