"""Observe (I/O): one look at everything a ModelDeployment's reconcile needs -> Snapshot.

One list per owned kind (by label, filtered by owner uid), the serving pods, one GET per
needed Secret and, when the traffic mode steers one, the HTTPRoute; all concurrently.
A failure that waiting may fix (API server unreachable) raises ``KubeError``; a route that
cannot be read for good (forbidden) is recorded in the snapshot and becomes a condition.
"""

from __future__ import annotations

import asyncio

from canaria_operator.api.model import ModelDeployment
from canaria_operator.kube import (
    DEPLOYMENTS,
    HPAS,
    HTTPROUTES,
    JOBS,
    PDBS,
    PODS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    Json,
    Kube,
    KubeError,
)
from canaria_operator.reconcile.snapshot import Inputs, Snapshot, secrets_needed
from canaria_operator.reconcile.truth import acceptance_read
from canaria_operator.rollout.model import Gate
from canaria_operator.traffic import RouteRead, RouteRef
from canaria_operator.workloads.names import COMPONENT_ACCEPTANCE, COMPONENT_SERVING
from canaria_serving import contract

__all__ = ["OWNED_KINDS", "observe"]

OWNED_KINDS = (
    ("Deployment", DEPLOYMENTS),
    ("Service", SERVICES),
    ("HorizontalPodAutoscaler", HPAS),
    ("PodDisruptionBudget", PDBS),
    ("ServiceAccount", SERVICEACCOUNTS),
    ("Role", ROLES),
    ("RoleBinding", ROLEBINDINGS),
    ("Job", JOBS),  # the acceptance Jobs
)


def _owned_by(obj: Json, uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


async def _route(kube: Kube, ref: RouteRef | None) -> RouteRead | None:
    if ref is None:
        return None
    try:
        return RouteRead(ref, await kube.get(HTTPROUTES, ref.namespace, ref.name))
    except KubeError as exc:
        if exc.permanent:
            return RouteRead(ref, None, error=str(exc))
        raise


async def observe(kube: Kube, md: ModelDeployment, inputs: Inputs) -> Snapshot:
    ns, uid = md.namespace, md.metadata.uid
    selector = f"{contract.LABEL_MODEL}={md.name}"
    serving = f"{selector},{contract.LABEL_COMPONENT}={COMPONENT_SERVING}"
    names = sorted(secrets_needed(md))
    accepting = md.status.rollout is not None and md.status.rollout.gate is Gate.ACCEPTANCE
    testing = f"{selector},{contract.LABEL_COMPONENT}={COMPONENT_ACCEPTANCE}"
    lists, pods_list, secrets, route, test_pods = await asyncio.gather(
        asyncio.gather(*(kube.list(res, ns, selector, cached=True) for _, res in OWNED_KINDS)),
        kube.list(PODS, ns, serving, cached=True),
        asyncio.gather(*(kube.get(SECRETS, ns, name) for name in names)),
        _route(kube, inputs.mode.route_ref()),
        kube.list(PODS, ns, testing) if accepting else _none(),
    )
    objects: dict[tuple[str, str], Json] = {}
    for (kind, res), items in zip(OWNED_KINDS, lists, strict=True):
        api_version = f"{res.group}/{res.version}" if res.group else res.version
        for item in items:
            if _owned_by(item, uid):
                item.setdefault("kind", kind)  # list items carry neither
                item.setdefault("apiVersion", api_version)
                objects[(kind, item["metadata"]["name"])] = item
    pods: dict[str, list[Json]] = {}
    for pod in pods_list:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        pods.setdefault(labels.get(contract.LABEL_VERSION, ""), []).append(pod)
    missing = frozenset(n for n, obj in zip(names, secrets, strict=True) if obj is None)
    return Snapshot(
        md=md,
        inputs=inputs,
        objects=objects,
        pods=pods,
        missing_secrets=missing,
        route=route,
        acceptance=acceptance_read(md, objects, test_pods),
    )


async def _none() -> list[Json]:
    return []
