"""The seam between the operator core and the rollout engine.

The core calls ``plan_rollout(md, health, now)`` once per reconcile and gets back a
:class:`RolloutPlan`: which artifact each track must run, how big the canary is, the traffic
weight, and the status fields the engine owns. The core then makes the cluster match the plan
(Deployments, Services, HPAs), derives conditions and phase, writes status once and emits
Events.

:func:`basic_plan` is the core's own planner: the first version becomes stable; a changed
``spec.model`` with strategy ``Immediate`` replaces stable in place; with any other strategy
it creates the canary track at weight 0 and records the state the engine's ``decide`` starts
from (``status.rollout`` phase Progressing, stage WaitingForCanary). The progressive-delivery
engine replaces it with :func:`set_rollout_planner`.

Status fields owned by the planner: ``rollout``, ``analysis``, ``history``, ``currentStep``,
and the weights of ``stable``/``canary``. The core owns everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import MAX_HISTORY, AnalysisResult, HistoryEntry
from canaria_operator.events import EventSpec
from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.model import CanaryPods, Phase, RolloutState, Stage, Strategy
from canaria_operator.workloads.artifact import Artifact

__all__ = [
    "RolloutPlan",
    "RolloutPlanner",
    "TrackHealth",
    "basic_plan",
    "get_rollout_planner",
    "set_rollout_planner",
]


@dataclass(frozen=True)
class TrackHealth:
    """What was observed of one track's pods (the engine's ``CanaryPods`` for the canary)."""

    desired: int
    ready: int
    reason: str | None = None  # why pods are not Ready, from pod statuses

    def as_canary_pods(self) -> CanaryPods:
        return CanaryPods(desired=self.desired, ready=self.ready, reason=self.reason)


@dataclass(frozen=True)
class RolloutPlan:
    stable: Artifact
    canary: Artifact | None = None
    # Pods of the canary track (None: as many as spec.serving asks for).
    canary_replicas: int | None = None
    canary_weight: int = 0
    rollout: RolloutState | None = None
    analysis: tuple[AnalysisResult, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    events: tuple[EventSpec, ...] = field(default=())
    # Reconcile again after this many seconds at the latest (e.g. next analysis round).
    requeue_after: float | None = None


class RolloutPlanner(Protocol):
    def __call__(
        self, md: ModelDeployment, health: Mapping[str, TrackHealth], now: datetime
    ) -> RolloutPlan: ...


def _bounded(history: tuple[HistoryEntry, ...]) -> tuple[HistoryEntry, ...]:
    return history[-MAX_HISTORY:]


def basic_plan(
    md: ModelDeployment, health: Mapping[str, TrackHealth], now: datetime
) -> RolloutPlan:
    """First version -> stable; Immediate -> replace stable; otherwise hand a canary over."""
    del health
    status, target = md.status, Artifact.from_spec(md.spec.model)
    history = status.history
    if status.stable is None or status.stable.version == target.version:
        # First version, or the same version (a changed uri/sha256 updates it in place).
        return RolloutPlan(stable=target, rollout=status.rollout, history=history)
    stable = Artifact.from_status(status.stable)
    if md.spec.rollout.strategy == Strategy.IMMEDIATE.value:
        entry = HistoryEntry(
            version=target.version,
            result="Replaced",
            reason=f"{R.REPLACED}: {stable.version} replaced by {target.version}",
            started_at=now,
            finished_at=now,
        )
        return RolloutPlan(
            stable=target,
            rollout=status.rollout,
            history=_bounded((*history, entry)),
            events=(
                EventSpec("Normal", R.REPLACED, f"stable {stable.version} -> {target.version}"),
            ),
        )
    state = status.rollout or RolloutState(stable_version=stable.version)
    if state.canary_version == target.version and state.phase in (
        Phase.PROGRESSING,
        Phase.PAUSED,
    ):
        return RolloutPlan(
            stable=stable,
            canary=target,
            canary_weight=state.canary_weight,
            rollout=state,
            analysis=status.analysis,
            history=history,
        )
    started = state.model_copy(
        update={
            "phase": Phase.PROGRESSING,
            "stage": Stage.WAITING,
            "stable_version": stable.version,
            "canary_version": target.version,
            "canary_weight": 0,
            "mirror_percent": 0,
            "step_index": -1,
            "started_at": now,
            "step_started_at": now,
            "canary_unready_since": None,
            "successes": 0,
            "consecutive_failures": 0,
            "consecutive_errors": 0,
            "paused_by": None,
            "reason": R.ROLLOUT_STARTED,
            "message": f"{md.spec.rollout.strategy} rollout of {target.version} started",
        }
    )
    return RolloutPlan(
        stable=stable,
        canary=target,
        rollout=started,
        history=history,
        events=(EventSpec("Normal", R.ROLLOUT_STARTED, started.message),),
    )


_PLANNER: dict[str, RolloutPlanner] = {"current": basic_plan}


def set_rollout_planner(planner: RolloutPlanner) -> None:
    """Install the rollout engine (called once at operator start-up)."""
    _PLANNER["current"] = planner


def get_rollout_planner() -> RolloutPlanner:
    return _PLANNER["current"]
