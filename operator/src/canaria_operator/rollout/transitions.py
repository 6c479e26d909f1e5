"""State-changing steps of the rollout state machine (pure; used by ``machine.decide``).

Each function takes the decision context and changes the state; it records the Events and
history entries of the transition beside it (the state itself says what runs where).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.decision import (
    AcceptanceReport,
    Event,
    HistoryRecord,
    HistoryResult,
)
from canaria_operator.rollout.model import (
    ACTIVE_PHASES,
    EventType,
    HookType,
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


@dataclass
class Ctx:
    state: RolloutState
    spec: RolloutSpec
    now: datetime
    events: list[Event] = field(default_factory=list)
    history: list[HistoryRecord] = field(default_factory=list)
    action_consumed: bool = False
    acceptance: AcceptanceReport | None = None

    def set(self, **changes: Any) -> None:
        self.state = self.state.model_copy(update=changes)

    def note(self, kind: EventType, reason: str, message: str) -> None:
        """An Event that does not change the rollout's reason (e.g. a refused action)."""
        self.events.append(Event(type=kind, reason=reason, message=message))

    def event(self, kind: EventType, reason: str, message: str) -> None:
        self.note(kind, reason, message)
        self.set(reason=reason, message=message)

    def traffic(self, weight: int, mirror: int) -> None:
        """Weights; while the canary gets a mirrored copy it may get replayed records too."""
        replay = self.spec.replay_rps if mirror > 0 else 0.0
        self.set(canary_weight=weight, mirror_percent=mirror, replay_rps=replay)

    def clear_gate(self) -> None:
        self.set(gate=None, gate_since=None, gate_attempts=0, last_gate_call_at=None)

    def progress(self) -> tuple[int, int, int]:
        """How much has been recorded so far (the fixpoint loop stops when nothing moves)."""
        return len(self.events), len(self.history), int(self.action_consumed)


def start(ctx: Ctx, version: str, reason: str) -> None:
    spec, now = ctx.spec, ctx.now
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
        consecutive_inconclusive=0,
        paused_by=None,
        canary_scale_down_at=None,
        acceptance_attempt=None,
    )
    ctx.clear_gate()
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
    history(ctx, s.canary_version, "Promoted", reason)
    # The canary's Deployment becomes the stable as it is (roles swap, no pod is rolled); the
    # old stable stays warm as "previous" (an older previous is dropped); stable has 100 %.
    ctx.traffic(0, 0)
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
        post_rollout_pending=HookType.POST_ROLLOUT in ctx.spec.hooks,
    )
    ctx.clear_gate()
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
        post_rollout_pending=HookType.POST_ROLLOUT in ctx.spec.hooks,
    )
    ctx.clear_gate()
    ctx.event("Warning", reason, message)


def history(ctx: Ctx, version: str, result: HistoryResult, reason: str) -> None:
    """Record the end of the rollout that started at ``state.started_at``."""
    ctx.history.append(
        HistoryRecord(
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
    # The warm previous stable takes the stable role back; the demoted version becomes a
    # canary at weight 0 until the scale-down delay has passed.
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


def replace_immediately(ctx: Ctx) -> None:
    """Strategy Immediate: the new version, once its pods are Ready, takes every request at
    once, with no steps and no analysis; the old stable stays warm as the previous one (as
    after a promotion) so no request finds no pod."""
    s, now = ctx.state, ctx.now
    assert s.canary_version is not None
    old, target = s.stable_version, s.canary_version
    history(ctx, target, "Replaced", f"{R.REPLACED}: {old} replaced by {target}")
    ctx.traffic(0, 0)
    ctx.set(
        phase=Phase.PROMOTED,
        stage=None,
        stable_version=target,
        canary_version=None,
        previous_version=old,
        previous_scale_down_at=now + ctx.spec.scale_down_delay,
        step_index=-1,
        paused_by=None,
        canary_unready_since=None,
        canary_scale_down_at=None,
        post_rollout_pending=HookType.POST_ROLLOUT in ctx.spec.hooks,
    )
    ctx.clear_gate()
    ctx.event("Normal", R.REPLACED, f"{old} replaced by {target}, whose pods are Ready")


def timers(ctx: Ctx) -> None:
    s, now = ctx.state, ctx.now
    if (
        s.canary_scale_down_at is not None
        and now >= s.canary_scale_down_at
        and s.phase not in ACTIVE_PHASES
        and s.canary_version is not None
    ):
        ctx.set(canary_scale_down_at=None)  # the warm canary's pods go
    if (
        s.previous_scale_down_at is not None
        and now >= s.previous_scale_down_at
        and s.previous_version is not None
    ):
        ctx.set(previous_scale_down_at=None, previous_version=None)  # the old stable goes
