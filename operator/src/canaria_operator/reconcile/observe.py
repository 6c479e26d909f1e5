"""Observe (I/O): list what a ModelDeployment owns, its pods, and the Secrets it needs."""

from __future__ import annotations

import asyncio

from canaria_operator.api.model import ModelDeployment
from canaria_operator.kube import (
    DEPLOYMENTS,
    HPAS,
    PODS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    Json,
    Kube,
)
from canaria_operator.reconcile.plan import Observed
from canaria_operator.workloads.names import COMPONENT_SERVING
from canaria_serving import contract

__all__ = ["OWNED_KINDS", "observe"]

OWNED_KINDS = (
    ("Deployment", DEPLOYMENTS),
    ("Service", SERVICES),
    ("HorizontalPodAutoscaler", HPAS),
    ("ServiceAccount", SERVICEACCOUNTS),
    ("Role", ROLES),
    ("RoleBinding", ROLEBINDINGS),
)


def _owned_by(obj: Json, uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


async def observe(kube: Kube, md: ModelDeployment, secrets: set[str]) -> Observed:
    """One list per kind (by label, filtered by owner uid) and one GET per needed Secret.
    Serving pods are grouped by their version label."""
    ns, uid = md.namespace, md.metadata.uid
    selector = f"{contract.LABEL_MODEL}={md.name}"
    serving = f"{selector},{contract.LABEL_COMPONENT}={COMPONENT_SERVING}"
    lists = await asyncio.gather(
        *(kube.list(res, ns, selector, cached=True) for _, res in OWNED_KINDS),
        kube.list(PODS, ns, serving, cached=True),
    )
    objects: dict[tuple[str, str], Json] = {}
    for (kind, res), items in zip(OWNED_KINDS, lists[:-1], strict=True):
        api_version = f"{res.group}/{res.version}" if res.group else res.version
        for item in items:
            if _owned_by(item, uid):
                item.setdefault("kind", kind)  # list items carry neither
                item.setdefault("apiVersion", api_version)
                objects[(kind, item["metadata"]["name"])] = item
    pods: dict[str, list[Json]] = {}
    for pod in lists[-1]:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        pods.setdefault(labels.get(contract.LABEL_VERSION, ""), []).append(pod)
    names = sorted(secrets)
    found = await asyncio.gather(*(kube.get(SECRETS, ns, name) for name in names))
    missing = frozenset(n for n, obj in zip(names, found, strict=True) if obj is None)
    return Observed(objects=objects, pods=pods, missing_secrets=missing)
