"""The operator's MLflow REST client (httpx, async): no ``mlflow`` package in the operator.

One pooled ``httpx.AsyncClient`` for every tracking server, short timeouts, and one
exception per condition reason (:mod:`.errors`). Credentials are those of an MLflow client,
read from a Secret with MLflow's own environment variable names as keys: a bearer token
``MLFLOW_TRACKING_TOKEN``, or ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``
(the same Secret is given to the fetch init container as its environment).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from canaria_operator.fetch.s3 import parse_listing, s3_list_request, s3_request
from canaria_operator.registry.errors import (
    RegistryAuthFailed,
    RegistryError,
    RegistryNotFound,
    RegistryRefused,
    RegistryUnreachable,
)
from canaria_operator.registry.uri import ARTIFACTS_API, DIRECTORY_PREFIX, S3_PREFIX

__all__ = [
    "ENV_PASSWORD",
    "ENV_TOKEN",
    "ENV_USERNAME",
    "ArtifactFile",
    "Credentials",
    "RegistryClient",
]

ENV_TOKEN = "MLFLOW_TRACKING_TOKEN"
ENV_USERNAME = "MLFLOW_TRACKING_USERNAME"
ENV_PASSWORD = "MLFLOW_TRACKING_PASSWORD"
API = "/api/2.0/mlflow"
_CHUNK = 1 << 20
_MAX_FILES = 10_000


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    username: str | None = None
    password: str | None = None
    # AWS_* variables, for an artifact store read directly (s3://, no artifact proxy)
    aws: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials:
        aws = {k: v for k, v in env.items() if k.startswith("AWS_")}
        return cls(env.get(ENV_TOKEN), env.get(ENV_USERNAME), env.get(ENV_PASSWORD), aws)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def auth(self) -> httpx.BasicAuth | None:
        if self.token or self.username is None:
            return None
        return httpx.BasicAuth(self.username, self.password or "")


@dataclass(frozen=True)
class Server:
    """A tracking server and the credentials to use with it."""

    tracking_uri: str
    creds: Credentials = Credentials()

    def api(self, path: str) -> str:
        return f"{self.tracking_uri.rstrip('/')}{API}/{path}"


@dataclass(frozen=True)
class ArtifactFile:
    path: str  # relative to the listed directory, "/"-separated
    size: int | None


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_code") or body)[:300]
    return str(body)[:300]


class RegistryClient:
    def __init__(self, timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None):
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(
        self,
        method: str,
        url: str,
        creds: Credentials,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        what = f"{method} {url.split('?', maxsplit=1)[0]}"
        try:
            resp = await self._http.request(
                method, url, params=params, json=body, headers=creds.headers(), auth=creds.auth()
            )
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"{what}: {type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if resp.status_code < 400:
            try:
                return resp.json() if resp.content else {}
            except ValueError as exc:
                raise RegistryUnreachable(f"{what}: not a JSON answer") from exc
        raise _status_error(what, resp)

    async def alias_version(self, server: Server, name: str, alias: str) -> str:
        url = server.api("registered-models/alias")
        data = await self._call("GET", url, server.creds, params={"name": name, "alias": alias})
        return str(data["model_version"]["version"])

    async def model_version(self, server: Server, name: str, version: str) -> dict[str, Any]:
        url = server.api("model-versions/get")
        data = await self._call("GET", url, server.creds, params={"name": name, "version": version})
        mv: dict[str, Any] = data["model_version"]
        return mv

    async def download_uri(self, server: Server, name: str, version: str) -> str:
        url = server.api("model-versions/get-download-uri")
        data = await self._call("GET", url, server.creds, params={"name": name, "version": version})
        return str(data["artifact_uri"])

    async def set_version_tag(
        self, server: Server, name: str, version: str, *, key: str, value: str
    ) -> None:
        url = server.api("model-versions/set-tag")
        body = {"name": name, "version": version, "key": key, "value": value}
        await self._call("POST", url, server.creds, body=body)

    async def set_alias(self, server: Server, name: str, alias: str, version: str) -> None:
        url = server.api("registered-models/alias")
        body = {"name": name, "alias": alias, "version": version}
        await self._call("POST", url, server.creds, body=body)

    async def list_directory(self, location: str, creds: Credentials) -> list[ArtifactFile]:
        """Every file under a ``mlflow+http(s)://.../mlflow-artifacts/artifacts/<dir>`` or
        ``mlflow+s3://bucket/prefix`` location, recursively, sorted by path."""
        if location.startswith(S3_PREFIX):
            return await self._list_s3(location, creds)
        base, root = _split(location)
        found: list[ArtifactFile] = []
        pending = [""]
        while pending:
            sub = pending.pop()
            path = f"{root}/{sub}".rstrip("/")
            data = await self._call("GET", f"{base}{ARTIFACTS_API}", creds, params={"path": path})
            for entry in data.get("files") or []:
                rel = f"{sub}/{entry['path'].rsplit('/', 1)[-1]}".lstrip("/")
                if entry.get("is_dir"):
                    pending.append(rel)
                else:
                    found.append(ArtifactFile(rel, entry.get("file_size")))
            if len(found) > _MAX_FILES:
                raise RegistryRefused(f"{location}: more than {_MAX_FILES} files")
        return sorted(found, key=lambda f: f.path)

    async def _list_s3(self, location: str, creds: Credentials) -> list[ArtifactFile]:
        bucket, _, prefix = location.removeprefix(S3_PREFIX).partition("/")
        prefix = prefix.strip("/") + "/"
        found: list[ArtifactFile] = []
        token: str | None = None
        while True:
            url, headers = s3_list_request(bucket, prefix, token, env=creds.aws)
            try:
                resp = await self._http.get(url, headers=headers)
            except httpx.HTTPError as exc:
                raise RegistryUnreachable(f"list {location}: {type(exc).__name__}: {exc}") from exc
            if resp.status_code >= 400:
                raise _status_error(f"list {location}", resp)
            listed, token = parse_listing(resp.content)
            found += [
                ArtifactFile(key.removeprefix(prefix), size)
                for key, size in listed
                if not key.endswith("/")
            ]
            if len(found) > _MAX_FILES:
                raise RegistryRefused(f"{location}: more than {_MAX_FILES} files")
            if token is None:
                return sorted(found, key=lambda f: f.path)

    def _file(
        self, location: str, creds: Credentials, rel: str
    ) -> tuple[str, dict[str, str], httpx.BasicAuth | None]:
        """URL, headers and auth of a GET of one file of the directory."""
        if location.startswith(S3_PREFIX):
            url, headers = s3_request(
                f"s3://{location.removeprefix(S3_PREFIX)}/{rel}", env=creds.aws
            )
            return url, headers, None
        return f"{location.removeprefix(DIRECTORY_PREFIX)}/{rel}", creds.headers(), creds.auth()

    async def read_file(self, location: str, creds: Credentials, rel: str, limit: int) -> bytes:
        """A small file of the directory (e.g. ``MLmodel``), at most ``limit`` bytes."""
        url, headers, auth = self._file(location, creds, rel)
        try:
            resp = await self._http.get(url, headers=headers, auth=auth)
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            raise _status_error(f"GET {url}", resp)
        return resp.content[:limit]

    async def file_sha256(self, location: str, creds: Credentials, rel: str) -> str:
        """The sha256 of one file of the directory, streamed (nothing kept)."""
        url, headers, auth = self._file(location, creds, rel)
        digest = hashlib.sha256()
        try:
            async with self._http.stream("GET", url, headers=headers, auth=auth) as resp:
                if resp.status_code >= 400:
                    await resp.aread()
                    raise _status_error(f"GET {url}", resp)
                async for block in resp.aiter_bytes(_CHUNK):
                    digest.update(block)
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"GET {url}: {type(exc).__name__}: {exc}") from exc
        return digest.hexdigest()


def _status_error(what: str, resp: httpx.Response) -> RegistryError:
    """The error for an HTTP error answer (MLflow answers an unknown alias with a 400 whose
    message says "not found")."""
    detail = f"{what}: HTTP {resp.status_code}: {_message(resp)}"
    if resp.status_code in (401, 403):
        return RegistryAuthFailed(detail)
    if resp.status_code == 404 or "not found" in detail.lower():
        return RegistryNotFound(detail)
    if resp.status_code >= 500 or resp.status_code in (408, 429):
        return RegistryUnreachable(detail)
    return RegistryRefused(detail)


def _split(location: str) -> tuple[str, str]:
    """``mlflow+http://h:p/api/.../artifacts/0/x`` -> (``http://h:p``, ``0/x``)."""
    url = location.removeprefix(DIRECTORY_PREFIX)
    base, sep, root = url.partition(ARTIFACTS_API)
    if not sep:
        raise RegistryRefused(f"{location}: not an MLflow artifact proxy location")
    return base, root.strip("/")
