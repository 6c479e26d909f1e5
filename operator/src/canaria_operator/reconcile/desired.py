"""Desired objects and the writes that reach them (pure).

From a placement (which artifact holds which role) and the traffic mode: per version its
Deployment (and HPA), the track Services ``<md>-stable``/``<md>-canary``, and the objects the
mode owns. An object is up to date when its ``canaria.dev/spec-hash`` annotation equals the
desired one and it is owned by this ModelDeployment: then nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from canaria_operator.api.model import ModelDeployment
from canaria_operator.reconcile.snapshot import Key, Snapshot
from canaria_operator.settings import OperatorSettings
from canaria_operator.traffic import ROLE_PREVIOUS, ROLE_STABLE, Placement
from canaria_operator.workloads.names import (
    ANNOTATION_SPEC_HASH,
    ANNOTATION_TEMPLATE_HASH,
    COMPONENT_ROUTER,
    deployment_name,
)
from canaria_operator.workloads.objects import build_version, track_service
from canaria_serving import contract

__all__ = ["Write", "desired_objects", "plan_writes", "stable_updating"]

Json = dict[str, Any]

# The model's own Deployments first (what a new version waits for), then Services and HPAs,
# then the router: its RBAC before its Deployment; deletes last.
_ORDER = {
    "Deployment": 0,
    "Service": 1,
    "HorizontalPodAutoscaler": 2,
    "ServiceAccount": 3,
    "Role": 4,
    "RoleBinding": 5,
    "PodDisruptionBudget": 7,  # after the router Deployment it covers
}


@dataclass(frozen=True)
class Write:
    op: Literal["apply", "delete"]
    obj: Json

    @property
    def key(self) -> Key:
        return (self.obj["kind"], self.obj["metadata"]["name"])

    def rank(self) -> tuple[bool, int]:
        labels = self.obj["metadata"].get("labels") or {}
        router = labels.get(contract.LABEL_COMPONENT) == COMPONENT_ROUTER
        if self.obj["kind"] == "Deployment" and router:
            return (self.op == "delete", 6)
        return (self.op == "delete", _ORDER.get(self.obj["kind"], 9))


def _born(have: Json | None) -> str | None:
    """The role a version's Deployment was created for (its pods' track label)."""
    template = ((have or {}).get("spec") or {}).get("template") or {}
    born = ((template.get("metadata") or {}).get("labels") or {}).get(contract.LABEL_TRACK)
    return str(born) if born else None


def desired_objects(
    snap: Snapshot,
    placement: Placement,
    settings: OperatorSettings,
    skip: frozenset[str] = frozenset(),
) -> dict[Key, Json]:
    """Every object the placement needs; versions named in ``skip`` are left as they are.

    One Deployment per version: a version keeps the pod template of the role it was created
    for, so a promotion changes labels of the Deployment and the track Services' selectors,
    never the pods."""
    md, mode = snap.md, snap.mode
    desired: dict[Key, Json] = {}

    def add(obj: Json) -> None:
        desired[(obj["kind"], obj["metadata"]["name"])] = obj

    headless = settings.headless_services
    for role, artifact in placement.artifacts():
        if role != ROLE_PREVIOUS:
            add(track_service(md, role, artifact.version, headless=headless))
        if artifact.version in skip:
            continue
        born = _born(snap.deployment(artifact.version))
        built = build_version(
            md,
            artifact,
            born=born or (ROLE_STABLE if role == ROLE_PREVIOUS else role),
            role=role,
            image=settings.image,
            pull_policy=settings.image_pull_policy,
            pod_annotations=settings.pod_annotations,
            scale=mode.scale(placement, role),
        )
        for obj in built.all():
            add(obj)
    for obj in mode.objects(placement, settings):
        add(obj)
    return desired


def _up_to_date(want: Json, have: Json, uid: str) -> bool:
    meta = have.get("metadata") or {}
    owned = any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or [])
    have_hash = (meta.get("annotations") or {}).get(ANNOTATION_SPEC_HASH)
    return owned and have_hash == want["metadata"]["annotations"][ANNOTATION_SPEC_HASH]


def plan_writes(
    md: ModelDeployment,
    desired: Mapping[Key, Json],
    observed: Mapping[Key, Json],
    keep: frozenset[Key] = frozenset(),
) -> list[Write]:
    """Applies for missing or outdated objects, deletes for owned objects no longer wanted
    (except ``keep``: objects of versions skipped this time), in the order to write them."""
    uid = md.metadata.uid
    writes = [
        Write("apply", want)
        for key, want in desired.items()
        if key not in observed or not _up_to_date(want, observed[key], uid)
    ]
    writes += [
        Write("delete", have)
        for key, have in observed.items()
        if key not in desired and key not in keep
    ]
    return sorted(writes, key=Write.rank)


def stable_updating(snap: Snapshot, placement: Placement, writes: list[Write]) -> bool:
    """The stable version's pods are changing: its pod template is written anew, or its
    Deployment has not finished rolling out (a role change only relabels: not an update)."""
    name = deployment_name(snap.md.name, placement.stable.version)
    dep = snap.deployment(placement.stable.version)
    have = ((dep or {}).get("metadata") or {}).get("annotations") or {}
    for w in writes:
        if w.op == "apply" and w.key == ("Deployment", name):
            want = w.obj["metadata"]["annotations"]
            if have.get(ANNOTATION_TEMPLATE_HASH) != want.get(ANNOTATION_TEMPLATE_HASH):
                return True
    if dep is None:
        return False
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    generation = (dep.get("metadata") or {}).get("generation", 0)
    replicas = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) < generation
        or status.get("updatedReplicas", 0) < replicas
        or status.get("replicas", 0) > replicas
    )
