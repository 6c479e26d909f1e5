"""Observe (I/O): list what a ModelDeployment owns, its pods, and the Secrets it needs."""

from __future__ import annotations

import asyncio

from canaria_operator.api.model import ModelDeployment
from canaria_operator.kube import DEPLOYMENTS, HPAS, PODS, SECRETS, SERVICES, Json, Kube
from canaria_operator.reconcile.plan import Observed
from canaria_operator.workloads.names import COMPONENT_SERVING
from canaria_serving import contract

__all__ = ["observe"]


def _owned_by(obj: Json, uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


async def observe(kube: Kube, md: ModelDeployment, secrets: set[str]) -> Observed:
    """One list per kind (by label, filtered by owner uid) and one GET per needed Secret."""
    ns, uid = md.namespace, md.metadata.uid
    selector = f"{contract.LABEL_MODEL}={md.name},{contract.LABEL_COMPONENT}={COMPONENT_SERVING}"
    lists = await asyncio.gather(
        kube.list(DEPLOYMENTS, ns, selector, cached=True),
        kube.list(SERVICES, ns, selector, cached=True),
        kube.list(HPAS, ns, selector, cached=True),
        kube.list(PODS, ns, selector, cached=True),
    )
    objects: dict[tuple[str, str], Json] = {}
    for kind, items in zip(
        ("Deployment", "Service", "HorizontalPodAutoscaler"), lists[:3], strict=True
    ):
        for item in items:
            if _owned_by(item, uid):
                item.setdefault("kind", kind)
                objects[(kind, item["metadata"]["name"])] = item
    pods: dict[str, list[Json]] = {}
    for pod in lists[3]:
        track = ((pod.get("metadata") or {}).get("labels") or {}).get(contract.LABEL_TRACK, "")
        pods.setdefault(track, []).append(pod)
    names = sorted(secrets)
    found = await asyncio.gather(*(kube.get(SECRETS, ns, name) for name in names))
    missing = frozenset(n for n, obj in zip(names, found, strict=True) if obj is None)
    return Observed(objects=objects, pods=pods, missing_secrets=missing)
