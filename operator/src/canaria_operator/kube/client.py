"""The one place that talks to the API server.

Built on ``kubernetes_asyncio``'s ``ApiClient`` for what it does well (kubeconfig and
in-cluster credentials, TLS, token refresh) while requests and answers stay plain JSON dicts:
the operator's own pydantic models describe its objects, and the generated model classes
would add a conversion layer and CPU cost for nothing. kopf's internal client is not a
public API, so it is not used for writes.

Every write is counted (``writes``), so tests and benchmarks can prove that reconciling an
unchanged object writes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from canaria_operator.kube.errors import KubeError
from canaria_operator.kube.paths import Resource, resource_for

__all__ = ["FIELD_MANAGER", "Json", "Kube"]

Json = dict[str, Any]
FIELD_MANAGER = "canaria-operator"
_TIMEOUT = 30.0


class Kube:
    def __init__(self, api: k8s.ApiClient) -> None:
        self._api = api
        self.writes: Counter[str] = Counter()

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> Kube:
        configuration = k8s.Configuration()
        if kubeconfig is None:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            except k8s_config.ConfigException:
                await k8s_config.load_kube_config(client_configuration=configuration)
        else:
            await k8s_config.load_kube_config(
                config_file=kubeconfig, client_configuration=configuration
            )
        return cls(k8s.ApiClient(configuration))

    async def close(self) -> None:
        await self._api.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Json | None = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Json:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if method != "GET":
            self.writes[method] += 1
        try:
            resp = await self._api.call_api(
                path,
                method,
                query_params=list((query or {}).items()),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=_TIMEOUT,
            )
            async with resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(0, "Unreachable", f"API server unreachable: {exc}") from exc
        return _decoded(status, raw)

    # --- conveniences ------------------------------------------------------------------------

    async def get(self, res: Resource, namespace: str | None, name: str) -> Json | None:
        try:
            return await self.request("GET", res.path(namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    async def list(
        self, res: Resource, namespace: str | None, selector: str = "", *, cached: bool = False
    ) -> list[Json]:
        """``cached``: served from the API server's watch cache (``resourceVersion=0``), not a
        quorum read from etcd; what reconciles use, since they are triggered by watch events
        that the same cache produced."""
        query = {"labelSelector": selector} if selector else {}
        if cached:
            query["resourceVersion"] = "0"
        data = await self.request("GET", res.path(namespace), query=query or None)
        items: list[Json] = data.get("items") or []
        return items

    async def apply(self, obj: Json, *, force: bool = True) -> Json:
        """Server-side apply: the operator owns exactly the fields it sets."""
        meta = obj["metadata"]
        path = resource_for(obj).path(meta["namespace"], meta["name"])
        query = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        return await self.request(
            "PATCH", path, body=obj, query=query, content_type="application/apply-patch+yaml"
        )

    async def delete(self, res: Resource, namespace: str, name: str) -> bool:
        try:
            await self.request(
                "DELETE", res.path(namespace, name), body={"propagationPolicy": "Background"}
            )
        except KubeError as exc:
            if exc.not_found:
                return False
            raise
        return True

    async def patch_status(self, res: Resource, namespace: str, name: str, status: Json) -> Json:
        """Replace status with a merge patch on the status subresource."""
        return await self.request(
            "PATCH",
            res.path(namespace, name, "status"),
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    async def patch(self, res: Resource, namespace: str, name: str, patch: Json) -> Json:
        """JSON merge patch of an object (``None`` values remove keys)."""
        return await self.request(
            "PATCH",
            res.path(namespace, name),
            body=patch,
            content_type="application/merge-patch+json",
        )

    async def create(self, res: Resource, namespace: str, obj: Json) -> Json:
        return await self.request("POST", res.path(namespace), body=obj)


def _decoded(status: int, raw: bytes) -> Json:
    """The answer's JSON, or a KubeError naming the status (and the text of a body that is
    not a JSON object: "404 page not found" for an API that is not installed)."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = None
    if not isinstance(data, dict):
        text = raw[:200].decode("utf-8", "replace").strip()
        if 200 <= status <= 299:
            raise KubeError(status, "InvalidResponse", f"HTTP {status}, not a JSON object: {text}")
        raise KubeError.from_status(status, {"message": f"HTTP {status}: {text}"})
    if not 200 <= status <= 299:
        raise KubeError.from_status(status, data)
    return data
