"""Resolve a ModelDeployment's ``models:/`` reference (I/O): alias -> version -> artifact
directory -> digest, with a cache per reference for the poll interval.

Every answer is a :class:`~.read.RegistryRead`; no exception leaves :meth:`Resolver.read`.
The directory is listed on every poll (cheap); its files are hashed again only when the
listing (paths and sizes) changed or the operator restarted. A digest that differs from the
one pinned in status for the same version is refused (:class:`~.errors.ArtifactChanged`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import yaml

from canaria_operator.registry.client import ArtifactFile, Credentials, RegistryClient, Server
from canaria_operator.registry.errors import (
    ArtifactChanged,
    NotAnOnnxModel,
    RegistryError,
    RegistryUnreachable,
)
from canaria_operator.registry.read import ONNX_FILE, RegistryRead, Resolved
from canaria_operator.registry.uri import RegistryRef, UnsupportedLocation, proxy_location
from canaria_serving.modeldir import manifest_digest

__all__ = ["Follower", "Resolver"]

CredentialsLoader = Callable[[], Awaitable[Credentials]]
_MLMODEL_LIMIT = 1 << 20


@dataclass(frozen=True)
class Follower:
    """A ModelDeployment that follows (or pins) a reference on a tracking server."""

    namespace: str
    name: str
    tracking_uri: str
    ref: RegistryRef
    secret: str | None = None  # the credentials' Secret (reads are cached per credentials)

    @property
    def cache_key(self) -> tuple[str, str, str]:
        return (self.tracking_uri, str(self.ref), f"{self.namespace}/{self.secret or ''}")


class Resolver:
    def __init__(
        self, client: RegistryClient | None = None, clock: Callable[[], float] = time.monotonic
    ):
        self.client = client or RegistryClient()
        self._clock = clock
        self._cache: dict[tuple[str, str, str], tuple[float, RegistryRead]] = {}
        self._digests: dict[tuple[str, tuple[ArtifactFile, ...]], str] = {}
        self._followers: dict[tuple[str, str], Follower] = {}
        self._failures: dict[tuple[str, str, str], int] = {}

    async def aclose(self) -> None:
        await self.client.aclose()

    def followers(self, model: str, alias: str | None = None) -> list[Follower]:
        """The ModelDeployments that follow ``model`` (and ``alias``, if given)."""
        return [
            f
            for f in self._followers.values()
            if f.ref.name == model and (alias is None or f.ref.alias == alias)
        ]

    def invalidate(self, model: str, alias: str | None = None) -> list[Follower]:
        """Forget cached reads of ``model`` (a webhook said it changed); returns who to wake."""
        found = self.followers(model, alias)
        for f in found:
            self._cache.pop(f.cache_key, None)
        return found

    def forget(self, namespace: str, name: str) -> None:
        self._followers.pop((namespace, name), None)

    async def read(
        self,
        follower: Follower,
        credentials: CredentialsLoader,
        pins: Mapping[str, str],
        max_age: float,
    ) -> RegistryRead:
        """The reference resolved (cached for ``max_age`` seconds), or why it could not be."""
        self._followers[(follower.namespace, follower.name)] = follower
        key = follower.cache_key
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] < max_age:
            return _check_pin(cached[1], pins)
        try:
            creds = await credentials()
            resolved = await self._resolve(follower.tracking_uri, creds, follower.ref)
            result = RegistryRead(resolved)
            self._failures.pop(key, None)
        except RegistryError as exc:
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            result = RegistryRead.failed(exc.reason, f"{follower.ref}: {exc.message}", failures)
        self._cache[key] = (self._clock(), result)
        return _check_pin(result, pins)

    async def _resolve(self, tracking: str, creds: Credentials, ref: RegistryRef) -> Resolved:
        c = self.client
        server = Server(tracking, creds)
        if ref.alias is not None:
            version = await c.alias_version(server, ref.name, ref.alias)
        else:
            assert ref.version is not None
            version = ref.version
        mv = await c.model_version(server, ref.name, version)
        status = mv.get("status", "READY")
        if status != "READY":
            raise RegistryUnreachable(f"version {version} is {status}, not READY yet")
        try:
            location = proxy_location(tracking, await c.download_uri(server, ref.name, version))
        except UnsupportedLocation as exc:
            raise NotAnOnnxModel(str(exc)) from exc
        listing = tuple(await c.list_directory(location, creds))
        await self._check_onnx(location, creds, listing, version)
        digest = self._digests.get((location, listing))
        if digest is None:
            sums = await asyncio.gather(*(c.file_sha256(location, creds, f.path) for f in listing))
            digest = manifest_digest(zip((f.path for f in listing), sums, strict=True))
            self._digests[(location, listing)] = digest
        return Resolved(ref.name, version, location, digest, len(listing))

    async def _check_onnx(
        self, location: str, creds: Credentials, listing: tuple[ArtifactFile, ...], version: str
    ) -> None:
        paths = {f.path for f in listing}
        if "MLmodel" in paths:
            raw = await self.client.read_file(location, creds, "MLmodel", _MLMODEL_LIMIT)
            try:
                flavors = (yaml.safe_load(raw) or {}).get("flavors") or {}
            except yaml.YAMLError as exc:
                raise NotAnOnnxModel(f"version {version}: unreadable MLmodel: {exc}") from exc
            if "onnx" not in flavors:
                names = ", ".join(sorted(flavors)) or "none"
                raise NotAnOnnxModel(
                    f"version {version} is not an ONNX model (MLmodel flavors: {names})"
                )
        if ONNX_FILE not in paths:
            shown = ", ".join(sorted(paths)[:8]) or "no files"
            raise NotAnOnnxModel(f"version {version} has no {ONNX_FILE} ({shown})")


def _check_pin(read: RegistryRead, pins: Mapping[str, str]) -> RegistryRead:
    r = read.resolved
    if r is None:
        return read
    pinned = pins.get(r.version)
    if pinned is not None and pinned != r.digest:
        exc = ArtifactChanged(
            f"models:/{r.name}/{r.version} changed in the registry: digest {r.digest}, "
            f"pinned {pinned} when it was first resolved; refused (re-register it as a new "
            "version)"
        )
        return RegistryRead.failed(exc.reason, exc.message)
    return read
