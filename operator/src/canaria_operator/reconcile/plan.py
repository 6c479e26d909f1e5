"""Decide (pure): desired objects, the writes that reach them, and the new status.

Inputs are the ModelDeployment, what was observed of its tracks, and the rollout plan; the
output says exactly which objects to apply or delete. An object is up to date when its
``canaria.dev/spec-hash`` annotation equals the desired one and it is owned by this
ModelDeployment: then nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from canaria_operator import conditions as C
from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import (
    Condition,
    ConditionStatus,
    ConditionType,
    ModelDeploymentStatus,
    StatusPhase,
    TrackStatus,
)
from canaria_operator.reconcile.health import PodProblem
from canaria_operator.reconcile.seam import RolloutPlan, TrackHealth
from canaria_operator.rollout.model import Phase
from canaria_operator.settings import OperatorSettings
from canaria_operator.workloads import ANNOTATION_SPEC_HASH, Artifact
from canaria_operator.workloads.names import (
    COMPONENT_ROUTER,
    COMPONENT_SERVING,
    deployment_name,
    router_labels,
)
from canaria_operator.workloads.objects import build_version, model_service, track_service
from canaria_operator.workloads.router import build_router
from canaria_serving import contract

__all__ = ["Observed", "Problem", "Write", "desired_objects", "new_status", "plan_writes"]

Json = dict[str, Any]
ROLE_PREVIOUS = "previous"


@dataclass(frozen=True)
class Observed:
    """Objects of the ModelDeployment as listed from the API server, keyed by
    ``(kind, name)``, its pods by track, and the Secrets that do not exist."""

    objects: Mapping[tuple[str, str], Json] = field(default_factory=dict)
    pods: Mapping[str, list[Json]] = field(default_factory=dict)
    missing_secrets: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Write:
    op: Literal["apply", "delete"]
    obj: Json

    @property
    def key(self) -> tuple[str, str]:
        return (self.obj["kind"], self.obj["metadata"]["name"])


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str


def _born(have: Json | None) -> str | None:
    """The role a version's Deployment was created for (its pods' track label)."""
    template = ((have or {}).get("spec") or {}).get("template") or {}
    born = ((template.get("metadata") or {}).get("labels") or {}).get(contract.LABEL_TRACK)
    return str(born) if born else None


def desired_objects(
    md: ModelDeployment,
    plan: RolloutPlan,
    settings: OperatorSettings,
    skip: frozenset[str],
    observed: Observed | None = None,
) -> dict[tuple[str, str], Json]:
    """Every object the plan needs; versions named in ``skip`` are left as they are.

    One Deployment per version: a version keeps the pod template of the role it was created
    for, so a promotion changes labels of the Deployment and the track Services' selectors,
    never the pods."""
    roles: list[tuple[str, Artifact | None, int | None]] = [
        (contract.TRACK_STABLE, plan.stable, plan.stable_replicas),
        (contract.TRACK_CANARY, plan.canary, plan.canary_replicas),
        (ROLE_PREVIOUS, plan.previous, None),
    ]
    objects = observed.objects if observed is not None else {}
    desired: dict[tuple[str, str], Json] = {}

    def add(obj: Json) -> None:
        desired[(obj["kind"], obj["metadata"]["name"])] = obj

    headless = settings.headless_services
    for role, artifact, replicas in roles:
        if artifact is None:
            continue
        if role != ROLE_PREVIOUS:
            add(track_service(md, role, artifact.version, headless=headless))
        if artifact.version in skip:
            continue
        have = objects.get(("Deployment", deployment_name(md.name, artifact.version)))
        born = _born(have) or (contract.TRACK_STABLE if role == ROLE_PREVIOUS else role)
        built = build_version(
            md,
            artifact,
            born=born,
            role=role,
            image=settings.image,
            pull_policy=settings.image_pull_policy,
            pod_annotations=settings.pod_annotations,
            replicas=replicas,
        )
        for obj in built.all():
            add(obj)
    router = md.spec.rollout.traffic.router
    if router == "Builtin":
        for obj in build_router(
            md,
            image=settings.image,
            pull_policy=settings.image_pull_policy,
            replicas=settings.router_replicas,
            pod_annotations=settings.pod_annotations,
        ):
            add(obj)
        add(model_service(md, router_labels(md.name), headless=headless))
    elif router == "Replicas":
        selector = {contract.LABEL_MODEL: md.name, contract.LABEL_COMPONENT: COMPONENT_SERVING}
        add(model_service(md, selector, headless=headless))
    return desired


def _up_to_date(want: Json, have: Json, uid: str) -> bool:
    meta = have.get("metadata") or {}
    owned = any(ref.get("uid") == uid for ref in meta.get("ownerReferences") or [])
    have_hash = (meta.get("annotations") or {}).get(ANNOTATION_SPEC_HASH)
    return owned and have_hash == want["metadata"]["annotations"][ANNOTATION_SPEC_HASH]


def plan_writes(
    md: ModelDeployment,
    desired: Mapping[tuple[str, str], Json],
    observed: Observed,
    keep: frozenset[tuple[str, str]] = frozenset(),
) -> list[Write]:
    """Applies for missing or outdated objects, deletes for owned objects no longer wanted
    (except ``keep``: objects of tracks skipped this time)."""
    writes = [
        Write("apply", want)
        for key, want in desired.items()
        if key not in observed.objects
        or not _up_to_date(want, observed.objects[key], md.metadata.uid)
    ]
    for key, have in observed.objects.items():
        if key not in desired and key not in keep:
            writes.append(Write("delete", have))
    # The model's own Deployments first (what a new version waits for), then Services and
    # HPAs, then the router: its RBAC before its Deployment; deletes last.
    order = {
        "Deployment": 0,
        "Service": 1,
        "HorizontalPodAutoscaler": 2,
        "ServiceAccount": 3,
        "Role": 4,
        "RoleBinding": 5,
    }

    def rank(w: Write) -> tuple[bool, int]:
        labels = w.obj["metadata"].get("labels") or {}
        if (
            w.obj["kind"] == "Deployment"
            and labels.get(contract.LABEL_COMPONENT) == COMPONENT_ROUTER
        ):
            return (w.op == "delete", 6)
        return (w.op == "delete", order.get(w.obj["kind"], 9))

    return sorted(writes, key=rank)


def _track_status(
    artifact: Artifact, md: ModelDeployment, health: TrackHealth | None, weight: int
) -> TrackStatus:
    return TrackStatus(
        version=artifact.version,
        uri=artifact.uri,
        sha256=artifact.sha256,
        credentials_secret=artifact.credentials_secret,
        deployment=deployment_name(md.name, artifact.version),
        replicas=health.desired if health else None,
        ready_replicas=health.ready if health else None,
        weight=weight,
    )


def _phase(problems: list[Problem], rollout_phase: Phase | None, ready: bool) -> StatusPhase:
    if problems:
        return "Degraded"
    if rollout_phase is Phase.PROGRESSING:
        return "Progressing"
    if rollout_phase is Phase.PAUSED:
        return "Paused"
    if rollout_phase is Phase.ROLLED_BACK:
        return "RolledBack"
    return "Ready" if ready else "Pending"


def new_status(
    md: ModelDeployment,
    *,
    plan: RolloutPlan,
    health: Mapping[str, TrackHealth],
    problems: list[Problem],
    stable_updating: bool,
    now: datetime,
) -> ModelDeploymentStatus:
    """The complete status after this reconcile (conditions merged with the old ones)."""
    gen = md.metadata.generation
    stable_h = health.get(plan.stable.version)
    ready = stable_h is not None and stable_h.ready >= max(1, stable_h.desired)
    if stable_h is not None and stable_h.desired == 0:
        ready = True
    rollout_phase = plan.rollout.phase if plan.rollout is not None else None
    rollout_msg = plan.rollout.message if plan.rollout is not None else ""

    def cond(type_: ConditionType, status: ConditionStatus, reason: str, msg: str) -> Condition:
        return C.new_condition(
            type_, status=status, reason=reason, message=msg, now=now, generation=gen
        )

    ready_cond = cond(
        "Ready",
        "True" if ready else "False",
        C.R_STABLE_READY if ready else C.R_STABLE_NOT_READY,
        _ready_msg(plan, stable_h),
    )
    if rollout_phase in (Phase.PROGRESSING, Phase.PAUSED) and plan.canary is not None:
        reason = C.R_ROLLOUT_PAUSED if rollout_phase is Phase.PAUSED else C.R_ROLLOUT_IN_PROGRESS
        progressing = cond("Progressing", "True", reason, rollout_msg)
    elif stable_updating:
        msg = f"stable track rolling out {plan.stable.version}"
        progressing = cond("Progressing", "True", C.R_STABLE_UPDATING, msg)
    elif rollout_phase is Phase.ROLLED_BACK:
        progressing = cond("Progressing", "False", C.R_ROLLED_BACK, rollout_msg)
    else:
        msg = f"serving {plan.stable.version}"
        progressing = cond("Progressing", "False", C.R_NO_ROLLOUT, msg)
    if problems:
        msg = "; ".join(p.message for p in problems)
        degraded = cond("Degraded", "True", problems[0].reason, msg)
    else:
        degraded = cond("Degraded", "False", C.R_AS_EXPECTED, "no problems")
    canary_weight = plan.canary_weight if plan.canary is not None else 0
    rollout = plan.rollout
    return ModelDeploymentStatus(
        observed_generation=gen,
        model_name=md.model_name,
        phase=_phase(problems, rollout_phase, ready),
        conditions=C.merge_conditions(md.status.conditions, (ready_cond, progressing, degraded)),
        stable=_track_status(plan.stable, md, stable_h, 100 - canary_weight),
        canary=None
        if plan.canary is None
        else _track_status(plan.canary, md, health.get(plan.canary.version), canary_weight),
        previous=None
        if plan.previous is None
        else _track_status(plan.previous, md, health.get(plan.previous.version), 0),
        current_step=rollout.step_index
        if rollout is not None and plan.canary is not None
        else None,
        rollout=rollout,
        analysis=plan.analysis,
        history=plan.history,
    )


def _ready_msg(plan: RolloutPlan, health: TrackHealth | None) -> str:
    if health is None:
        return f"stable {plan.stable.version}: no Deployment yet"
    return f"stable {plan.stable.version}: {health.ready}/{health.desired} pods Ready"


def problems_from_pods(track: str, problem: PodProblem | None) -> list[Problem]:
    return [] if problem is None else [Problem(problem.reason, f"{track}: {problem.message}")]
