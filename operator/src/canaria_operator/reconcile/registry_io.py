"""The registry's I/O around the pure decision: read the reference for the snapshot, and
execute the Outcome's registry writes (tags, the operator's alias). Failures are data: a
read that fails is a :class:`RegistryRead` with a reason, a write that fails a problem."""

from __future__ import annotations

import base64
import logging

from canaria_operator import conditions as C
from canaria_operator.api.base import parse_duration
from canaria_operator.api.model import ModelDeployment
from canaria_operator.conditions import Problem
from canaria_operator.kube import SECRETS, Kube, KubeError
from canaria_operator.reconcile.registry import RegistryWrite
from canaria_operator.registry.client import Credentials, Server
from canaria_operator.registry.errors import RegistryError, RegistryUnreachable
from canaria_operator.registry.read import RegistryRead
from canaria_operator.registry.resolve import Follower, Resolver
from canaria_operator.registry.uri import parse_models_uri

__all__ = ["R_REGISTRY_WRITE_FAILED", "RegistryIO"]

R_REGISTRY_WRITE_FAILED = "RegistryWriteFailed"

log = logging.getLogger(__name__)


class _SecretMissing(RegistryError):
    reason = C.R_SECRET_NOT_FOUND


class RegistryIO:
    def __init__(self, kube: Kube, resolver: Resolver | None = None) -> None:
        self.kube = kube
        self.resolver = resolver or Resolver()

    async def aclose(self) -> None:
        await self.resolver.aclose()

    def forget(self, namespace: str, name: str) -> None:
        self.resolver.forget(namespace, name)

    async def credentials(self, md: ModelDeployment) -> Credentials:
        """The registry Secret's MLflow variables (none without a Secret)."""
        registry = md.spec.model.registry
        if registry is None or registry.credentials_secret_ref is None:
            return Credentials()
        name = registry.credentials_secret_ref.name
        try:
            secret = await self.kube.get(SECRETS, md.namespace, name)
        except KubeError as exc:
            raise _SecretMissing(f"Secret {name!r}: {exc.message}") from exc
        if secret is None:
            raise _SecretMissing(f"Secret {name!r} not found in namespace {md.namespace}")
        data = {
            k: base64.b64decode(v).decode("utf-8", "replace")
            for k, v in (secret.get("data") or {}).items()
        }
        data.update(secret.get("stringData") or {})
        return Credentials.from_env(data)

    async def read(self, md: ModelDeployment) -> RegistryRead | None:
        """What the registry says of spec.model (None: not a models:/ reference)."""
        model = md.spec.model
        if not model.from_registry or model.registry is None:
            return None
        secret = model.registry.credentials_secret_ref
        follower = Follower(
            md.namespace,
            md.name,
            model.registry.tracking_uri,
            parse_models_uri(model.uri),
            secret.name if secret else None,
        )
        reg = md.status.registry
        pins = {p.version: p.digest for p in reg.pins} if reg else {}
        max_age = parse_duration(model.registry.poll_interval).total_seconds()
        return await self.resolver.read(
            follower, lambda: self.credentials(md), pins, max_age=max_age
        )

    async def write(
        self, md: ModelDeployment, writes: tuple[RegistryWrite, ...]
    ) -> tuple[list[RegistryWrite], list[Problem]]:
        """Execute the writes; returns those that succeeded and a problem for the first
        that failed (the rest wait for the next reconcile)."""
        registry = md.spec.model.registry
        if not writes or registry is None:
            return [], []
        name = parse_models_uri(md.spec.model.uri).name
        client = self.resolver.client
        done: list[RegistryWrite] = []
        try:
            server = Server(registry.tracking_uri, await self.credentials(md))
            for w in writes:
                if w.alias is not None:
                    await client.set_alias(server, name, w.alias, w.version)
                for key, value in w.tags:
                    await client.set_version_tag(server, name, w.version, key=key, value=value)
                done.append(w)
        except RegistryError as exc:
            log.warning(
                "registry write for %s/%s failed (retried on the next reconcile): %s",
                md.namespace,
                md.name,
                exc.message,
                extra={"modeldeployment": f"{md.namespace}/{md.name}"},
            )
            if isinstance(exc, RegistryUnreachable):
                return done, []  # the read's RegistryUnreachable says so if it lasts
            return done, [Problem(R_REGISTRY_WRITE_FAILED, f"registry write: {exc.message}")]
        return done, []
