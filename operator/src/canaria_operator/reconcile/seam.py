"""The seam between the operator core and the rollout engine: the types they exchange.

The core observes and calls a :class:`RolloutPlanner` once per reconcile with what it saw
(health of each model version's pods, the analysis round it ran if one was due) and gets back
a :class:`RolloutPlan`: which artifact holds each role (stable, canary, warm previous stable),
the traffic weights, replica counts and the status fields the engine owns. The core makes the
cluster match the plan, derives conditions and phase, writes status once and emits Events.
The planner is :func:`canaria_operator.reconcile.engine.engine_plan`.

Status fields owned by the planner: ``rollout``, ``analysis``, ``history``, ``currentStep``
and the weights of ``stable``/``canary``. The core owns everything else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from canaria_operator.analysis.result import CheckResult
from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import AnalysisResult, HistoryEntry
from canaria_operator.events import EventSpec
from canaria_operator.rollout.model import CanaryPods, RolloutState
from canaria_operator.workloads.artifact import Artifact

__all__ = ["RolloutPlan", "RolloutPlanner", "TrackHealth"]


@dataclass(frozen=True)
class TrackHealth:
    """What was observed of one version's pods (the engine's ``CanaryPods`` for a canary)."""

    desired: int
    ready: int
    reason: str | None = None  # why pods are not Ready, from pod statuses

    def as_canary_pods(self) -> CanaryPods:
        return CanaryPods(desired=self.desired, ready=self.ready, reason=self.reason)


@dataclass(frozen=True)
class RolloutPlan:
    stable: Artifact
    # The canary's Deployment exists while a rollout runs and stays warm (weight 0) for the
    # scale-down delay after a rollback.
    canary: Artifact | None = None
    # The stable before the last promotion, warm (no traffic) until its scale-down time.
    previous: Artifact | None = None
    # Pods per role (None: as many as spec.serving asks for).
    stable_replicas: int | None = None
    canary_replicas: int | None = None
    canary_weight: int = 0
    mirror_percent: int = 0
    rollout: RolloutState | None = None
    analysis: tuple[AnalysisResult, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    events: tuple[EventSpec, ...] = field(default=())
    # Reconcile again after this many seconds at the latest (e.g. next analysis round).
    requeue_after: float | None = None
    # The ``canaria.dev/action`` annotation was handled (or refused): remove it.
    clear_action: bool = False


class RolloutPlanner(Protocol):
    def __call__(
        self,
        md: ModelDeployment,
        health: Mapping[str, TrackHealth],
        now: datetime,
        analysis: Sequence[CheckResult],
    ) -> RolloutPlan: ...
