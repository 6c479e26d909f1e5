"""The rollout planner: ``spec`` + status + observed health + analysis -> ``RolloutPlan``.

Pure. Maps the ModelDeployment onto the state machine's inputs, calls
:func:`canaria_operator.rollout.decide` and turns the decision into the plan the core applies:
the state in ``status.rollout`` says which version holds which role; the artifacts come from
``spec.model`` (the target version) and from ``status.stable/canary/previous`` (versions that
``spec.model`` has moved away from).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from math import ceil

from canaria_operator.analysis.result import CheckResult
from canaria_operator.api.convert import to_rollout_spec
from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import MAX_HISTORY, AnalysisResult, HistoryEntry
from canaria_operator.events import EventSpec
from canaria_operator.reconcile.seam import RolloutPlan, TrackHealth
from canaria_operator.rollout import (
    ClearActionAnnotation,
    EmitEvent,
    ManualAction,
    Observed,
    RecordHistory,
    ReplaceStable,
    RolloutState,
    Stage,
    decide,
)
from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.transitions import ACTIVE_PHASES
from canaria_operator.workloads.artifact import Artifact
from canaria_serving.contract import ANNOTATION_ACTION

__all__ = ["analysis_results", "engine_plan", "known_artifacts", "replica_split"]


def known_artifacts(md: ModelDeployment) -> dict[str, Artifact]:
    """Every version the object knows an artifact for; spec.model wins for its version."""
    found: dict[str, Artifact] = {}
    for track in (md.status.previous, md.status.canary, md.status.stable):
        if track is not None:
            found[track.version] = Artifact.from_status(track)
    target = Artifact.from_spec(md.spec.model)
    found[target.version] = target
    return found


def _action(md: ModelDeployment) -> tuple[ManualAction | None, EventSpec | None]:
    raw = md.metadata.annotations.get(ANNOTATION_ACTION)
    if raw is None:
        return None, None
    try:
        return ManualAction(raw.strip().lower()), None
    except ValueError:
        allowed = ", ".join(a.value for a in ManualAction)
        msg = f"{ANNOTATION_ACTION}={raw!r} ignored: not one of {allowed}"
        return None, EventSpec("Warning", R.ACTION_IGNORED, msg)


def analysis_results(results: Sequence[CheckResult]) -> tuple[AnalysisResult, ...]:
    return tuple(
        AnalysisResult(
            metric=r.metric,
            verdict=r.verdict.value,
            value=r.value,
            stable_value=r.stable_value,
            threshold=r.threshold,
            samples=r.samples,
            message=r.message[:1000] or None,
            at=r.at,
        )
        for r in results
    )


def replica_split(total: int, weight: int, canary_active: bool) -> tuple[int, int]:
    """Traffic mode ``Replicas``: (stable, canary) pods so that the canary's share of pods
    approximates ``weight`` percent. A canary that is waiting for its first step keeps one pod
    (it must become Ready); a canary at weight 0 otherwise has none (any Ready pod behind the
    Service gets traffic, so a rolled-back canary cannot stay warm)."""
    if weight <= 0:
        return max(total, 1), (1 if canary_active else 0)
    if weight >= 100:
        return 0, max(total, 1)
    canary = min(max(ceil(total * weight / 100), 1), max(total - 1, 1))
    return max(total - canary, 1), canary


def engine_plan(
    md: ModelDeployment,
    health: Mapping[str, TrackHealth],
    now: datetime,
    analysis: Sequence[CheckResult],
) -> RolloutPlan:
    spec = to_rollout_spec(md.spec.rollout)
    status = md.status
    target = md.spec.model.version
    state = status.rollout or RolloutState()
    if state.stable_version is None and status.stable is not None:
        state = state.model_copy(update={"stable_version": status.stable.version})
    action, bad_action = _action(md)
    pods = health.get(target)
    decision = decide(
        Observed(
            target_version=target,
            state=state,
            canary=None if pods is None else pods.as_canary_pods(),
            action=action,
        ),
        spec,
        list(analysis),
        now,
    )
    new = decision.state
    artifacts = known_artifacts(md)
    assert new.stable_version is not None  # decide sets it on the first reconcile
    stable = artifacts[new.stable_version]
    canary_wanted = new.canary_version is not None and (
        new.phase in ACTIVE_PHASES or new.canary_scale_down_at is not None
    )
    canary = artifacts.get(new.canary_version or "") if canary_wanted else None
    previous = artifacts.get(new.previous_version or "") if new.previous_version else None
    events = [
        EventSpec(a.type, a.reason, a.message) for a in decision.actions if isinstance(a, EmitEvent)
    ]
    if bad_action is not None:
        events.append(bad_action)
    history = (
        status.history
        + tuple(
            HistoryEntry(
                version=a.version,
                result=a.result,
                reason=a.reason,
                started_at=a.started_at,
                finished_at=a.finished_at,
            )
            for a in decision.actions
            if isinstance(a, RecordHistory)
        )
        + tuple(
            HistoryEntry(
                version=a.version,
                result="Replaced",
                reason=f"{R.REPLACED}: {state.stable_version} replaced by {a.version}",
                started_at=now,
                finished_at=now,
            )
            for a in decision.actions
            if isinstance(a, ReplaceStable)
        )
    )
    consumed = new.last_analysis_at is not None and new.last_analysis_at != state.last_analysis_at
    latest = [r for r in analysis if r.at == new.last_analysis_at] if consumed else []
    stable_replicas = canary_replicas = None
    traffic = md.spec.rollout.traffic
    if traffic.router == "Replicas" and md.spec.serving.autoscaling is None:
        waiting = new.phase in ACTIVE_PHASES and new.stage is not Stage.STEPS
        stable_replicas, canary_replicas = replica_split(
            md.spec.serving.fixed_replicas, new.canary_weight if canary else 0, waiting
        )
    requeue = decision.requeue_after.total_seconds() if decision.requeue_after else None
    return RolloutPlan(
        stable=stable,
        canary=canary,
        previous=previous,
        stable_replicas=stable_replicas,
        canary_replicas=canary_replicas,
        canary_weight=new.canary_weight if canary is not None else 0,
        mirror_percent=new.mirror_percent if canary is not None else 0,
        rollout=new,
        analysis=analysis_results(latest) if consumed else status.analysis,
        history=history[-MAX_HISTORY:],
        events=tuple(events),
        requeue_after=requeue,
        clear_action=bad_action is not None
        or any(isinstance(a, ClearActionAnnotation) for a in decision.actions),
    )
