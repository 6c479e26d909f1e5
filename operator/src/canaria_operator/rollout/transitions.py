"""State-changing steps of the rollout state machine (pure; used by ``machine.decide``).

Each function takes the decision context, records the actions the operator must apply and
updates the state accordingly, so that state and actions never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.actions import (
    Action,
    CreateCanary,
    EmitEvent,
    PromoteCanary,
    RecordHistory,
    ReplaceStable,
    RestorePrevious,
    ScaleDown,
    SetTraffic,
)
from canaria_operator.rollout.model import (
    Phase,
    RolloutSpec,
    RolloutState,
    Stage,
    Strategy,
)

__all__ = [
    "ACTIVE_PHASES",
    "Ctx",
    "advance",
    "end_canary",
    "enter_first_stage",
    "enter_step",
    "promote",
    "replace_immediately",
    "restore_previous",
    "rollback",
    "start",
    "supersede",
    "timers",
]

ACTIVE_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED})


@dataclass
@dataclass
class Ctx:
    state: RolloutState
    spec: RolloutSpec
    now: datetime
    actions: list[Action] = field(default_factory=list)

    def set(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def event(self, kind: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        self.actions.append(EmitEvent(type=kind, reason=reason, message=message))
        self.set(reason=reason, message=message)

    def traffic(self, weight: int, mirror: int) -> None:
        if (self.state.canary_weight, self.state.mirror_percent) != (weight, mirror):
            self.actions.append(SetTraffic(canary_weight=weight, mirror_percent=mirror))
            self.set(canary_weight=weight, mirror_percent=mirror)


def start(ctx: Ctx, version: str, reason: str) -> None:
    spec, now = ctx.spec, ctx.now
    ctx.actions.append(
        CreateCanary(version=version, full_size=spec.strategy is Strategy.BLUE_GREEN)
    )
    ctx.traffic(0, 0)
    ctx.set(
        phase=Phase.PROGRESSING,
        stage=Stage.WAITING,
        canary_version=version,
        step_index=-1,
        started_at=now,
        step_started_at=now,
        canary_unready_since=None,
        successes=0,
        consecutive_failures=0,
        consecutive_errors=0,
        paused_by=None,
        canary_scale_down_at=None,
    )
    ctx.event(
        "Normal",
        reason,
        f"{spec.strategy} rollout of {version} started (stable {ctx.state.stable_version})",
    )


def enter_first_stage(ctx: Ctx) -> None:
    strategy, mirror = ctx.spec.strategy, ctx.spec.mirror_percent
    if strategy is Strategy.BLUE_GREEN:
        ctx.set(stage=Stage.PREVIEW, step_started_at=ctx.now, successes=0)
        ctx.traffic(0, mirror)
        ctx.event(
            "Normal",
            R.WAITING_FOR_ANALYSIS,
            f"preview: canary at full size, {mirror}% of traffic mirrored to it",
        )
    elif strategy is Strategy.SHADOW:
        ctx.set(stage=Stage.SHADOW, step_started_at=ctx.now, successes=0)
        ctx.traffic(0, mirror)
        ctx.event(
            "Normal", R.WAITING_FOR_ANALYSIS, f"shadow: {mirror}% of traffic mirrored to the canary"
        )
    else:
        enter_step(ctx, 0)


def enter_step(ctx: Ctx, index: int) -> None:
    step = ctx.spec.steps[index]
    ctx.set(stage=Stage.STEPS, step_index=index, step_started_at=ctx.now, successes=0)
    ctx.traffic(step.weight, 0)
    ctx.event(
        "Normal",
        R.STEP_ADVANCED,
        f"step {index + 1}/{len(ctx.spec.steps)}: canary weight {step.weight}%",
    )


def advance(ctx: Ctx) -> None:
    s, spec = ctx.state, ctx.spec
    if s.stage is Stage.SHADOW:
        ctx.event("Normal", R.SHADOW_PASSED, "shadow analysis passed")
        enter_step(ctx, 0)
    elif s.stage is Stage.STEPS and s.step_index + 1 < len(spec.steps):
        enter_step(ctx, s.step_index + 1)
    else:
        promote(ctx, R.PROMOTED, f"{s.canary_version} passed every step and is now stable")


def promote(ctx: Ctx, reason: str, message: str) -> None:
    s, now = ctx.state, ctx.now
    assert s.canary_version is not None
    if s.previous_version is not None:
        ctx.actions.append(ScaleDown(track="previous", version=s.previous_version))
    ctx.actions.append(PromoteCanary(version=s.canary_version, previous_version=s.stable_version))
    history(ctx, s.canary_version, "Promoted", reason)
    ctx.set(canary_weight=0, mirror_percent=0)  # PromoteCanary implies it: stable has 100%
    ctx.set(
        phase=Phase.PROMOTED,
        stage=None,
        stable_version=s.canary_version,
        canary_version=None,
        previous_version=s.stable_version,
        previous_scale_down_at=now + ctx.spec.scale_down_delay,
        step_index=-1,
        paused_by=None,
        canary_unready_since=None,
        canary_scale_down_at=None,
    )
    ctx.event("Normal", reason, message)


def end_canary(
    ctx: Ctx, result: Literal["RolledBack", "Superseded"], reason: str, message: str
) -> None:
    s = ctx.state
    ctx.traffic(0, 0)
    assert s.canary_version is not None
    history(ctx, s.canary_version, result, reason)
    ctx.set(
        phase=Phase.ROLLED_BACK,
        stage=None,
        paused_by=None,
        canary_unready_since=None,
        canary_scale_down_at=ctx.now + ctx.spec.scale_down_delay,
    )
    ctx.event("Warning", reason, message)


def history(
    ctx: Ctx, version: str, result: Literal["Promoted", "RolledBack", "Superseded"], reason: str
) -> None:
    """Record the end of the rollout that started at ``state.started_at``."""
    ctx.actions.append(
        RecordHistory(
            version=version,
            result=result,
            reason=reason,
            started_at=ctx.state.started_at,
            finished_at=ctx.now,
        )
    )


def supersede(ctx: Ctx, target: str) -> None:
    old = ctx.state.canary_version
    end_canary(ctx, "Superseded", R.SUPERSEDED, f"{old} superseded by {target}")


def rollback(ctx: Ctx, reason: str, message: str) -> None:
    end_canary(ctx, "RolledBack", reason, f"rolled back {ctx.state.canary_version}: {message}")


def restore_previous(ctx: Ctx, reason: str, message: str) -> None:
    s = ctx.state
    assert s.previous_version is not None
    assert s.stable_version is not None
    ctx.actions.append(
        RestorePrevious(version=s.previous_version, demoted_version=s.stable_version)
    )
    history(ctx, s.stable_version, "RolledBack", reason)
    ctx.set(
        phase=Phase.ROLLED_BACK,
        stage=None,
        stable_version=s.previous_version,
        canary_version=s.stable_version,
        previous_version=None,
        previous_scale_down_at=None,
        canary_weight=0,
        mirror_percent=0,
        canary_scale_down_at=ctx.now + ctx.spec.scale_down_delay,
    )
    ctx.event("Warning", reason, message)


def replace_immediately(ctx: Ctx, target: str) -> None:
    s = ctx.state
    if s.phase in ACTIVE_PHASES and s.canary_version is not None:
        supersede(ctx, target)
    if ctx.state.canary_version is not None:
        ctx.actions.append(ScaleDown(track="canary", version=ctx.state.canary_version))
    ctx.actions.append(ReplaceStable(version=target))
    ctx.set(
        phase=Phase.PROMOTED,
        stage=None,
        stable_version=target,
        canary_version=None,
        canary_scale_down_at=None,
        step_index=-1,
        started_at=ctx.now,
    )
    ctx.event("Normal", R.REPLACED, f"stable replaced in place by {target}")


def timers(ctx: Ctx) -> None:
    s, now = ctx.state, ctx.now
    if (
        s.canary_scale_down_at is not None
        and now >= s.canary_scale_down_at
        and s.phase not in ACTIVE_PHASES
        and s.canary_version is not None
    ):
        ctx.actions.append(ScaleDown(track="canary", version=s.canary_version))
        ctx.set(canary_scale_down_at=None)
    if (
        s.previous_scale_down_at is not None
        and now >= s.previous_scale_down_at
        and s.previous_version is not None
    ):
        ctx.actions.append(ScaleDown(track="previous", version=s.previous_version))
        ctx.set(previous_scale_down_at=None, previous_version=None)
