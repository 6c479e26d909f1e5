"""Traffic mode ``Replicas``: no router; the weight is the canary's share of pods (pure).

The model's Service ``<md>`` selects serving pods, and the cluster spreads requests evenly
over the Ready ones, so the canary gets about its share of pods in traffic:

* during the steps the canary runs ``ceil(total x weight / 100)`` pods (at least one, at most
  total - 1) and the stable the rest; with autoscaling each version's HorizontalPodAutoscaler
  gets that share of ``minReplicas``/``maxReplicas``, so the share holds as load changes
  (within the rounding of small counts: 10 % of 2 pods is one pod of two);
* a version that runs without a weight - a canary waiting for its first step, a BlueGreen
  preview, the warm previous stable after a promotion - must get no client traffic: then the
  Service selects only the stable version's pods; otherwise every serving pod;
* a warm previous stable is scaled to 0 while a canary takes traffic (the Service selects
  every pod then), a rolled-back canary at once.

It cannot mirror: a Shadow stage is refused at admission, a BlueGreen preview is passed on
readiness and time alone (nothing reaches it to be measured), then switched 0 -> 100.
"""

from __future__ import annotations

from math import ceil
from typing import ClassVar

from canaria_operator.rollout.model import Stage, Strategy
from canaria_operator.settings import OperatorSettings
from canaria_operator.traffic.base import (
    ROLE_CANARY,
    ROLE_PREVIOUS,
    ROLE_STABLE,
    Json,
    Placement,
    TrafficMode,
)
from canaria_operator.workloads.names import COMPONENT_SERVING
from canaria_operator.workloads.objects import Scale, model_service
from canaria_serving import contract

__all__ = ["Replicas", "replica_split"]


def replica_split(total: int, weight: int) -> tuple[int, int]:
    """(stable, canary) pods so that the canary's share of ``total`` approximates ``weight``
    percent: at least one canary pod, and one stable pod while the weight is under 100."""
    if weight <= 0:
        return max(total, 1), 0
    if weight >= 100:
        return 0, max(total, 1)
    canary = min(max(ceil(total * weight / 100), 1), max(total - 1, 1))
    return max(total - canary, 1), canary


class Replicas(TrafficMode):
    name: ClassVar[str] = "Replicas"
    can_mirror: ClassVar[bool] = False
    compares: ClassVar[bool] = False

    def _live(self, p: Placement) -> bool:
        """The canary takes client traffic (a step with a weight)."""
        return p.canary is not None and p.stage is Stage.STEPS and p.canary_weight > 0

    def scale(self, placement: Placement, role: str) -> Scale:
        full = Scale.of(self.md)
        p = placement
        if role == ROLE_PREVIOUS:
            return Scale.fixed(0) if self._live(p) else full
        if self._live(p):
            low = replica_split(full.low, p.canary_weight)
            high = replica_split(full.high, p.canary_weight)
            i = 0 if role == ROLE_STABLE else 1
            if full.autoscaled:
                return Scale.auto(low[i], high[i])
            return Scale.fixed(low[i])
        if role == ROLE_STABLE:
            return full
        if p.stage is None:
            return Scale.fixed(0)  # rolled back: no pods (it would take traffic at once)
        if self.md.spec.rollout.strategy == Strategy.BLUE_GREEN.value:
            return full  # the preview runs at full size, behind no Service clients use
        return Scale.fixed(1)  # waiting for its first step: one pod that must become Ready

    def objects(self, placement: Placement, settings: OperatorSettings) -> list[Json]:
        selector = {contract.LABEL_MODEL: self.md.name, contract.LABEL_COMPONENT: COMPONENT_SERVING}
        idle = [
            role
            for role, _ in placement.artifacts()
            if role != ROLE_STABLE
            and not (role == ROLE_CANARY and self._live(placement))
            and self.scale(placement, role).high > 0
        ]
        if idle:  # a version runs without a weight: clients reach the stable's pods only
            selector[contract.LABEL_VERSION] = placement.stable.version
        return [model_service(self.md, selector, headless=settings.headless_services)]
