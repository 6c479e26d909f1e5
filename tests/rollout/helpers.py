"""A tiny simulator: applies decisions the way the operator will (state written once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from canaria_operator.analysis.result import CheckResult, Verdict
from canaria_operator.rollout import (
    AcceptanceRead,
    CanaryPods,
    Decision,
    Event,
    HistoryRecord,
    HookAnswer,
    ManualAction,
    Phase,
    RolloutInput,
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
    events: list[Event] = field(default_factory=list)
    history: list[HistoryRecord] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    # canary weights the decisions set, in order: one entry per change of (weight, mirror)
    # while the rollout runs or is rolled back (a promotion hands stable the traffic instead)
    weights: list[int] = field(default_factory=list)
    # what the next ticks are told about the acceptance Job and the hooks called
    acceptance: AcceptanceRead | None = None
    hooks: tuple[HookAnswer, ...] = ()

    def tick(
        self,
        verdict: Verdict | None = None,
        action: ManualAction | None = None,
        advance: timedelta = timedelta(0),
    ) -> Decision:
        self.now += advance
        analysis = [check(verdict, self.now)] if verdict is not None else []
        inputs = RolloutInput(
            target_version=self.target,
            state=self.state,
            canary=self.pods,
            action=action,
            acceptance=self.acceptance,
            hooks=self.hooks,
        )
        d = decide(inputs, self.spec, analysis, self.now)
        before = (self.state.canary_weight, self.state.mirror_percent)
        after = (d.state.canary_weight, d.state.mirror_percent)
        if after != before and d.state.phase is not Phase.PROMOTED:
            self.weights.append(d.state.canary_weight)
        self.state = d.state
        self.events.extend(d.events)
        self.history.extend(d.history)
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

    @staticmethod
    def reasons(d: Decision) -> list[str]:
        return [e.reason for e in d.events]
