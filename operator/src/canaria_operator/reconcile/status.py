"""The status a reconcile writes (pure): phase, conditions, tracks, rollout state, analysis.

Status fields from the rollout decision: ``rollout``, ``analysis``, ``history``,
``currentStep`` and the tracks' weights. From what was observed: the tracks' pods, the
``Ready`` condition, and the problems that make the object ``Degraded``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from canaria_operator import conditions as C
from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import (
    AnalysisResult,
    Condition,
    ConditionStatus,
    ConditionType,
    HistoryEntry,
    ModelDeploymentStatus,
    StatusPhase,
    TrackStatus,
)
from canaria_operator.conditions import Problem
from canaria_operator.reconcile.health import TrackHealth
from canaria_operator.rollout.model import Phase, RolloutState
from canaria_operator.traffic import Placement
from canaria_operator.workloads.artifact import Artifact
from canaria_operator.workloads.names import deployment_name

__all__ = ["degrade", "invalid_status", "new_status"]


def _track(
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
        source=artifact.source,
    )


def _phase(rollout_phase: Phase, ready: bool) -> StatusPhase:
    if rollout_phase is Phase.PROGRESSING:
        return "Progressing"
    if rollout_phase is Phase.PAUSED:
        return "Paused"
    if rollout_phase is Phase.ROLLED_BACK:
        return "RolledBack"
    return "Ready" if ready else "Pending"


MakeCondition = Callable[[ConditionType, ConditionStatus, str, str], Condition]


def _conditions(md: ModelDeployment, now: datetime) -> MakeCondition:
    """A maker of conditions stamped ``now`` for the object's generation."""

    def make(type_: ConditionType, status: ConditionStatus, reason: str, message: str) -> Condition:
        gen = md.metadata.generation
        return C.new_condition(
            type_, status=status, reason=reason, message=message, now=now, generation=gen
        )

    return make


def degrade(
    md: ModelDeployment, status: ModelDeploymentStatus, problems: Sequence[Problem], now: datetime
) -> ModelDeploymentStatus:
    """``status`` with its Degraded condition (and phase) saying what ``problems`` says."""
    cond = _conditions(md, now)
    if problems:
        msg = "; ".join(p.message for p in problems)
        degraded = cond("Degraded", "True", problems[0].reason, msg)
    else:
        degraded = cond("Degraded", "False", C.R_AS_EXPECTED, "no problems")
    others = tuple(c for c in status.conditions if c.type != "Degraded")
    return status.model_copy(
        update={
            "phase": "Degraded" if problems else status.phase,
            "conditions": C.merge_conditions(md.status.conditions, (*others, degraded)),
        }
    )


def new_status(
    md: ModelDeployment,
    *,
    placement: Placement,
    state: RolloutState,
    analysis: tuple[AnalysisResult, ...],
    history: tuple[HistoryEntry, ...],
    health: Mapping[str, TrackHealth],
    problems: Sequence[Problem],
    stable_updating: bool,
    now: datetime,
    router: tuple[int, int] | None = None,
) -> ModelDeploymentStatus:
    """The complete status after this reconcile (conditions merged with the old ones).
    ``router``: (ready, desired) pods of the router Deployment, when the traffic mode runs one:
    the model is Ready when its Service can answer, not only its stable pods."""
    p = placement
    stable_h = health.get(p.stable.version)
    ready = stable_h is not None and stable_h.ready >= max(1, stable_h.desired)
    if stable_h is not None and stable_h.desired == 0:
        ready = True
    ready_msg = (
        f"stable {p.stable.version}: no Deployment yet"
        if stable_h is None
        else f"stable {p.stable.version}: {stable_h.ready}/{stable_h.desired} pods Ready"
    )
    reason = C.R_STABLE_READY if ready else C.R_STABLE_NOT_READY
    if router is not None and stable_h is not None and stable_h.desired > 0:
        ready_msg += f"; router {router[0]}/{router[1]} pods Ready"
        if ready and router[0] < 1:
            ready, reason = False, C.R_ROUTER_NOT_READY
    cond = _conditions(md, now)
    ready_cond = cond("Ready", "True" if ready else "False", reason, ready_msg)
    progressing = _progressing(cond, p, state, stable_updating)
    weight = p.canary_weight if p.canary is not None else 0
    status = ModelDeploymentStatus(
        observed_generation=md.metadata.generation,
        model_name=md.model_name,
        phase=_phase(state.phase, ready),
        conditions=C.merge_conditions(md.status.conditions, (ready_cond, progressing)),
        stable=_track(p.stable, md, stable_h, 100 - weight),
        canary=None
        if p.canary is None
        else _track(p.canary, md, health.get(p.canary.version), weight),
        previous=None
        if p.previous is None
        else _track(p.previous, md, health.get(p.previous.version), 0),
        current_step=state.step_index if p.canary is not None else None,
        rollout=state,
        analysis=analysis,
        history=history,
    )
    return degrade(md, status, problems, now)


def _progressing(
    cond: MakeCondition, p: Placement, state: RolloutState, stable_updating: bool
) -> Condition:
    if state.phase in (Phase.PROGRESSING, Phase.PAUSED) and p.canary is not None:
        paused = state.phase is Phase.PAUSED
        reason = C.R_ROLLOUT_PAUSED if paused else C.R_ROLLOUT_IN_PROGRESS
        return cond("Progressing", "True", reason, state.message)
    if stable_updating:
        msg = f"stable track rolling out {p.stable.version}"
        return cond("Progressing", "True", C.R_STABLE_UPDATING, msg)
    if state.phase is Phase.ROLLED_BACK:
        return cond("Progressing", "False", C.R_ROLLED_BACK, state.message)
    msg = f"serving {p.stable.version}"
    return cond("Progressing", "False", C.R_NO_ROLLOUT, msg)


def invalid_status(body: Mapping[str, Any], message: str, now: datetime) -> dict[str, Any] | None:
    """Status of an object the API server accepted but the operator cannot read: Degraded
    with reason InvalidSpec, once (None when status already says exactly that)."""
    meta = body.get("metadata") or {}
    conds = (body.get("status") or {}).get("conditions") or []
    already = any(
        c.get("type") == C.DEGRADED
        and c.get("reason") == C.R_INVALID_SPEC
        and c.get("message") == message[:4000]
        for c in conds
        if isinstance(c, dict)
    )
    if already:
        return None
    return {
        "phase": "Degraded",
        "observedGeneration": meta.get("generation"),
        "conditions": [
            {
                "type": C.DEGRADED,
                "status": "True",
                "reason": C.R_INVALID_SPEC,
                "message": message[:4000],
                "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ],
    }
