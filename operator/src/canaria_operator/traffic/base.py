"""Traffic modes: how requests reach the stable and canary tracks (pure).

One :class:`TrafficMode` per value of ``spec.rollout.traffic.router``, chosen once per
reconcile by :func:`canaria_operator.traffic.traffic_mode` (as Flagger's routers are): the
reconcile never compares the mode's name. A mode says

* what it can do: mirror a copy of stable traffic to the canary (``can_mirror``) and compare
  the mirrored answers (``compares``: the shadow-agreement check), hence which stages its
  checks can judge (:meth:`TrafficMode.judged_stages`);
* how many pods each version runs (:meth:`TrafficMode.scale`);
* which objects it owns besides the versions' Deployments and track Services
  (:meth:`TrafficMode.objects`: the router, the model's Service);
* which object outside the ModelDeployment it steers (:meth:`TrafficMode.route_ref`) and the
  update that object needs (:meth:`TrafficMode.route`: an HTTPRoute's weights and mirror).

Words: the *traffic mode* is this; the *router* is the proxy process ``canaria route``
(:mod:`canaria_operator.router`, deployed by mode Builtin); *builders* are the pure functions
of :mod:`canaria_operator.workloads` that make the objects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from canaria_operator.analysis.checks import planned_checks
from canaria_operator.analysis.config import AnalysisConfig
from canaria_operator.api.model import ModelDeployment
from canaria_operator.conditions import Problem
from canaria_operator.rollout.model import RolloutSpec, Stage
from canaria_operator.settings import OperatorSettings
from canaria_operator.workloads.artifact import Artifact
from canaria_operator.workloads.objects import Scale

__all__ = [
    "ROLE_CANARY",
    "ROLE_PREVIOUS",
    "ROLE_STABLE",
    "Json",
    "Placement",
    "RouteRead",
    "RouteRef",
    "RouteUpdate",
    "TrafficMode",
]

Json = dict[str, Any]
ROLE_STABLE = "stable"
ROLE_CANARY = "canary"
ROLE_PREVIOUS = "previous"  # the stable before the last promotion, kept warm


@dataclass(frozen=True)
class Placement:
    """Which artifact holds which role and where traffic goes, as a decision's state says.

    ``canary`` is set while a rollout runs and while a rolled-back canary stays warm;
    ``stage`` is the rollout's stage while it runs (None otherwise)."""

    stable: Artifact
    canary: Artifact | None = None
    previous: Artifact | None = None
    canary_weight: int = 0
    mirror_percent: int = 0
    stage: Stage | None = None

    def artifacts(self) -> list[tuple[str, Artifact]]:
        roles = ((ROLE_STABLE, self.stable), (ROLE_CANARY, self.canary))
        return [(r, a) for r, a in (*roles, (ROLE_PREVIOUS, self.previous)) if a is not None]


@dataclass(frozen=True)
class RouteRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RouteRead:
    """The steered object as observed: the object, or None when it does not exist;
    ``error``: it could not be read for a reason that waiting will not fix (e.g. forbidden)."""

    ref: RouteRef
    obj: Json | None
    error: str | None = None


@dataclass(frozen=True)
class RouteUpdate:
    """A JSON merge patch of the steered object."""

    ref: RouteRef
    patch: Json


class TrafficMode(ABC):
    name: ClassVar[str]
    # A copy of stable traffic can reach the canary (Shadow stage, BlueGreen preview).
    can_mirror: ClassVar[bool]
    # The mirrored answers are compared with the stable's (the shadow-agreement check).
    compares: ClassVar[bool]

    def __init__(self, md: ModelDeployment) -> None:
        self.md = md

    # --- what the rollout can judge ----------------------------------------------------------

    def judged_stages(self, config: AnalysisConfig) -> frozenset[Stage]:
        """Stages in which some check measures what the canary receives: the steps (client
        traffic) when any check is set; the Shadow stage and BlueGreen preview only when this
        mode mirrors (otherwise the canary receives nothing there to measure)."""
        stages: set[Stage] = set()
        if planned_checks(config):
            stages.add(Stage.STEPS)
        if self.can_mirror and planned_checks(config, mirrored=self.compares):
            stages |= {Stage.SHADOW, Stage.PREVIEW}
        return frozenset(stages)

    def rollout_spec(self, base: RolloutSpec, config: AnalysisConfig) -> RolloutSpec:
        """The state machine's spec under this mode: no mirroring where it cannot mirror,
        and the stages its checks can judge."""
        return base.model_copy(
            update={
                "mirror_percent": base.mirror_percent if self.can_mirror else 0,
                "judged_stages": self.judged_stages(config),
            }
        )

    # --- what it needs in the cluster --------------------------------------------------------

    def scale(self, placement: Placement, role: str) -> Scale:
        """Pods of the version holding ``role`` (default: what spec.serving asks for)."""
        return Scale.of(self.md)

    @abstractmethod
    def objects(self, placement: Placement, settings: OperatorSettings) -> list[Json]:
        """Objects the mode owns besides the versions' Deployments and track Services."""

    def route_ref(self) -> RouteRef | None:
        """The object outside the ModelDeployment that this mode steers (read at observe)."""
        return None

    def route(
        self, placement: Placement, seen: RouteRead | None
    ) -> tuple[RouteUpdate | None, list[Problem]]:
        """The update the steered object needs (None: none), and what is wrong with it."""
        return None, []
