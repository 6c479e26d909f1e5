"""A tiny simulator: applies decisions the way the operator will (state written once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from canaria_operator.analysis.result import CheckResult, Verdict
from canaria_operator.rollout import (
    Action,
    CanaryPods,
    Decision,
    ManualAction,
    Observed,
    RolloutSpec,
    RolloutState,
    decide,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def check(verdict: Verdict, at: datetime, metric: str = "error-rate") -> CheckResult:
    return CheckResult(metric=metric, verdict=verdict, at=at, message=verdict.value.lower())


@dataclass
class Sim:
    spec: RolloutSpec
    target: str = "v1"
    now: datetime = T0
    state: RolloutState = field(default_factory=RolloutState)
    pods: CanaryPods | None = None
    actions: list[Action] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def tick(
        self,
        verdict: Verdict | None = None,
        action: ManualAction | None = None,
        advance: timedelta = timedelta(0),
    ) -> Decision:
        self.now += advance
        analysis = [check(verdict, self.now)] if verdict is not None else []
        obs = Observed(
            target_version=self.target, state=self.state, canary=self.pods, action=action
        )
        d = decide(obs, self.spec, analysis, self.now)
        self.state = d.state
        self.actions.extend(d.actions)
        self.decisions.append(d)
        return d

    def ready(self, n: int = 1) -> None:
        self.pods = CanaryPods(desired=n, ready=n)

    def round(self, verdict: Verdict) -> Decision:
        """Wait for the next due analysis and feed one round with ``verdict``."""
        d = self.tick()
        step = self.spec.analysis_interval
        for _ in range(1000):
            if d.analysis_due:
                break
            d = self.tick(advance=step / 4)
        return self.tick(verdict)

    def kinds(self, d: Decision) -> list[str]:
        return [a.kind for a in d.actions]
