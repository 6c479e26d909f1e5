"""The one decision of a reconcile (pure): ``decide(snapshot, checks, now) -> Outcome``.

The Outcome is everything the reconcile will do, decided before anything is done: the writes
of owned objects, the update of the route the traffic mode steers, the complete new status,
the Events, when to look again, and whether to remove the ``canaria.dev/action``
annotation. The shell (:mod:`.reconciler`) only executes it. Steps:

1. the rollout state machine (:func:`canaria_operator.rollout.decide`) gets the target
   version, the stored state, the canary's pods, the manual action and the analysis round;
2. its state becomes a :class:`~canaria_operator.traffic.Placement` (which artifact holds
   which role, the weights): artifacts come from ``spec.model`` and, for versions spec has
   moved away from, from ``status.stable/canary/previous``;
3. desired objects (versions, track Services, the traffic mode's objects) -> writes; the
   traffic mode's route update; problems -> the Degraded condition; status; Events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from canaria_operator import conditions as C
from canaria_operator.analysis.result import CheckResult
from canaria_operator.api.base import parse_duration
from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import (
    MAX_HISTORY,
    AnalysisResult,
    HistoryCheck,
    HistoryEntry,
    ModelDeploymentStatus,
)
from canaria_operator.conditions import Problem
from canaria_operator.events import transition_events
from canaria_operator.reconcile.desired import (
    Write,
    desired_objects,
    plan_writes,
    stable_updating,
)
from canaria_operator.reconcile.health import track_health
from canaria_operator.reconcile.registry import (
    RegistryTarget,
    RegistryWrite,
    hold_round,
    registry_target,
    registry_writes,
)
from canaria_operator.reconcile.retire import (
    is_retired,
    retirement_status,
    scale_to_zero,
    with_deprecation_date,
)
from canaria_operator.reconcile.snapshot import Key, Snapshot
from canaria_operator.reconcile.status import degrade, new_status
from canaria_operator.reconcile.truth import truth_objects, truth_status
from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.decision import Decision, Event
from canaria_operator.rollout.machine import decide as decide_rollout
from canaria_operator.rollout.model import (
    ACTIVE_PHASES,
    ManualAction,
    RolloutInput,
    RolloutState,
)
from canaria_operator.settings import OperatorSettings
from canaria_operator.traffic import Placement, RouteUpdate
from canaria_operator.workloads.artifact import Artifact
from canaria_operator.workloads.names import deployment_name, router_name
from canaria_serving import contract

__all__ = ["Outcome", "decide", "known_artifacts", "placement_of"]


@dataclass(frozen=True)
class Outcome:
    """What one reconcile does. The shell applies ``writes`` (applies in order, then the route
    update, then deletes), writes ``status`` once if it differs from the stored one, removes
    the action annotation if ``clear_action``, emits ``events`` and looks again after
    ``requeue_after`` seconds at the latest."""

    writes: tuple[Write, ...]
    route: RouteUpdate | None
    status: ModelDeploymentStatus
    events: tuple[Event, ...]
    requeue_after: float | None
    clear_action: bool
    # The decision's own Events (the rest follow from the old and new status).
    decided_events: tuple[Event, ...] = ()
    problems: tuple[Problem, ...] = ()
    # tags and the operator's alias for the MLflow registry (executed by the shell)
    registry_writes: tuple[RegistryWrite, ...] = ()

    def refused(self, md: ModelDeployment, problems: Sequence[Problem], now: datetime) -> Outcome:
        """The outcome after the API server refused some writes for good: those problems
        join the Degraded condition (status and Events follow)."""
        every = (*self.problems, *problems)
        status = degrade(md, self.status, every, now)
        events = (*self.decided_events, *transition_events(md.status, status))
        return replace(self, status=status, events=events, problems=every)


def known_artifacts(md: ModelDeployment, target: Artifact | None = None) -> dict[str, Artifact]:
    """Every version the object knows an artifact for; the target (spec.model, or what the
    registry resolved it to) wins for its version."""
    found: dict[str, Artifact] = {}
    for track in (md.status.previous, md.status.canary, md.status.stable):
        if track is not None:
            found[track.version] = Artifact.from_status(track)
    target = target or Artifact.from_spec(md.spec.model)
    found[target.version] = target
    return found


def placement_of(
    md: ModelDeployment, state: RolloutState, target: Artifact | None = None
) -> Placement:
    """Where the versions run, as the rollout state says. The canary is kept while the
    rollout runs and, at weight 0, until a rolled-back canary's scale-down time."""
    artifacts = known_artifacts(md, target)
    assert state.stable_version is not None  # decide sets it on the first reconcile
    active = state.phase in ACTIVE_PHASES
    wanted = state.canary_version is not None and (active or state.canary_scale_down_at)
    canary = artifacts.get(state.canary_version or "") if wanted else None
    previous = artifacts.get(state.previous_version or "") if state.previous_version else None
    return Placement(
        stable=artifacts[state.stable_version],
        canary=canary,
        previous=previous,
        canary_weight=state.canary_weight if canary is not None else 0,
        mirror_percent=state.mirror_percent if canary is not None else 0,
        stage=state.stage if active else None,
    )


def _action(md: ModelDeployment) -> tuple[ManualAction | None, list[Event]]:
    raw = md.metadata.annotations.get(contract.ANNOTATION_ACTION)
    if raw is None:
        return None, []
    try:
        return ManualAction(raw.strip().lower()), []
    except ValueError:
        allowed = ", ".join(a.value for a in ManualAction)
        msg = f"{contract.ANNOTATION_ACTION}={raw!r} ignored: not one of {allowed}"
        return None, [Event(type="Warning", reason=R.ACTION_IGNORED, message=msg)]


def _analysis(
    md: ModelDeployment, before: RolloutState, d: Decision, checks: Sequence[CheckResult]
) -> tuple[AnalysisResult, ...]:
    """The results of the round the decision consumed (else the ones status holds)."""
    at = d.state.last_analysis_at
    if at is None or at == before.last_analysis_at:
        return md.status.analysis
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
        for r in checks
        if r.at == at
    )


def _history(
    md: ModelDeployment,
    d: Decision,
    artifacts: dict[str, Artifact],
    analysis: tuple[AnalysisResult, ...],
) -> tuple[HistoryEntry, ...]:
    checks = tuple(
        HistoryCheck(metric=a.metric, verdict=a.verdict, value=a.value, threshold=a.threshold)
        for a in analysis
    )
    added = tuple(
        HistoryEntry(
            version=h.version,
            result=h.result,
            reason=h.reason,
            started_at=h.started_at,
            finished_at=h.finished_at,
            source=artifacts[h.version].source if h.version in artifacts else None,
            checks=checks[:20],
        )
        for h in d.history
    )
    return (md.status.history + added)[-MAX_HISTORY:]


def _problems(snap: Snapshot, placement: Placement) -> list[Problem]:
    """Missing Secrets, and pod problems of the stable version (a failing canary is the
    rollout's business: held, then rolled back with the pods' reason)."""
    md = snap.md
    found = [
        Problem(C.R_SECRET_NOT_FOUND, f"Secret {s!r} not found in namespace {md.namespace}")
        for s in sorted(snap.missing_secrets)
    ]
    version = placement.stable.version
    dep = snap.deployment(version)
    if dep is not None:
        _, problem = track_health(dep, snap.pods.get(version, []))
        if problem is not None:
            found.append(Problem(problem.reason, f"{contract.TRACK_STABLE}: {problem.message}"))
    return found


def _router_pods(
    md: ModelDeployment,
    desired: Mapping[Key, dict[str, Any]],
    observed: Mapping[Key, dict[str, Any]],
) -> tuple[int, int] | None:
    """(ready, desired) pods of the router Deployment, when the traffic mode runs one."""
    key = ("Deployment", router_name(md.name))
    if key not in desired:
        return None
    dep = observed.get(key) or {}
    ready = int((dep.get("status") or {}).get("readyReplicas") or 0)
    return ready, int((desired[key].get("spec") or {}).get("replicas") or 1)


def decide(
    snap: Snapshot,
    checks: Sequence[CheckResult],
    now: datetime,
    settings: OperatorSettings,
) -> Outcome:
    """Everything this reconcile does, for what was observed and the analysis round run."""
    md = with_deprecation_date(snap.md, now)
    registry = registry_target(md, snap.registry, now)
    if registry.artifact is None:
        return _unresolved(md, registry, now)
    checks = hold_round(registry, checks)
    state = md.status.rollout or RolloutState()
    if state.stable_version is None and md.status.stable is not None:
        state = state.model_copy(update={"stable_version": md.status.stable.version})
    health = snap.health()
    action, refused = _action(md)
    target = registry.artifact.version
    pods = health.get(target)
    d = decide_rollout(
        RolloutInput(
            target_version=target,
            state=state,
            canary=None if pods is None else pods.as_canary_pods(),
            action=action,
            hooks=snap.hooks,
            acceptance=snap.acceptance,
        ),
        snap.inputs.spec,
        list(checks),
        now,
    )
    placement = placement_of(md, d.state, registry.artifact)
    problems = _problems(snap, placement)
    if registry.problem is not None and not registry.quiet:
        problems.insert(0, registry.problem)
    route, route_problems = snap.mode.route(placement, snap.route)
    problems += route_problems
    # Versions whose artifact needs a missing Secret keep their Deployments as they are
    # (pods that would only fail with CreateContainerConfigError are not rolled out).
    skip = frozenset(
        a.version for _, a in placement.artifacts() if a.credentials_secret in snap.missing_secrets
    )
    names = {deployment_name(md.name, v) for v in skip}
    keep = frozenset(key for key in snap.objects if key[1] in names)  # Deployment and HPA
    desired = desired_objects(replace(snap, md=md), placement, settings, skip)
    extra, kept = truth_objects(replace(snap, md=md), d.state, placement, settings)
    desired |= {(o["kind"], o["metadata"]["name"]): o for o in extra}  # feedback, acceptance
    retired = is_retired(md, now)
    if retired:
        desired = scale_to_zero(desired)
    writes = plan_writes(md, desired, snap.objects, keep | kept)
    analysis = _analysis(md, state, d, checks)
    status = new_status(
        md,
        placement=placement,
        state=d.state,
        analysis=analysis,
        history=_history(md, d, known_artifacts(md, registry.artifact), analysis),
        health=health,
        problems=problems,
        stable_updating=stable_updating(snap, placement, writes),
        now=now,
        router=_router_pods(md, desired, snap.objects),
    )
    status = status.model_copy(
        update={"registry": registry.status, "retirement": retirement_status(md, now)}
    )
    status = truth_status(md, status, d.acceptance, snap.hooks)
    if retired and not problems:
        status = status.model_copy(update={"phase": "Retired"})
    decided = (*d.events, *refused)
    return Outcome(
        writes=tuple(writes),
        route=route,
        status=status,
        events=(*decided, *transition_events(md.status, status)),
        requeue_after=_requeue(md, d.requeue_after, now),
        clear_action=d.action_consumed or bool(refused),
        decided_events=decided,
        problems=tuple(problems),
        registry_writes=registry_writes(md, status, placement.stable.version if retired else None),
    )


def _requeue(md: ModelDeployment, after: timedelta | None, now: datetime) -> float | None:
    """When to look again: the rollout's wish, the registry's poll interval, the retirement."""
    wanted = [] if after is None else [after.total_seconds()]
    registry = md.spec.model.registry
    if md.spec.model.from_registry and registry is not None:
        wanted.append(parse_duration(registry.poll_interval).total_seconds())
    if md.spec.retire is not None and now < md.spec.retire.at:
        wanted.append(max((md.spec.retire.at - now).total_seconds(), 0.5))
    return min(wanted) if wanted else None


def _unresolved(md: ModelDeployment, registry: RegistryTarget, now: datetime) -> Outcome:
    """A registry reference that never resolved: nothing to serve yet, Degraded saying why."""
    assert registry.problem is not None
    base = md.status.model_copy(
        update={"observed_generation": md.metadata.generation, "registry": registry.status}
    )
    status = degrade(md, base, [registry.problem], now)
    return Outcome(
        writes=(),
        route=None,
        status=status,
        events=tuple(transition_events(md.status, status)),
        requeue_after=_requeue(md, None, now),
        clear_action=False,
        problems=(registry.problem,),
    )
