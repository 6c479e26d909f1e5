"""The rollout state machine: ``decide(observed, spec, analysis, now) -> Decision``.

Pure and deterministic (no I/O, no clock: ``now`` is an argument). The operator observes the
world, runs an analysis round when ``Decision.analysis_due`` says so, calls ``decide`` with the
round's results, applies the returned actions in order and writes ``Decision.state`` to status
once. ``decide`` runs its transitions to a fixpoint, so calling it again with the returned
state and the same inputs changes nothing (idempotent).

Rules (see ``RolloutSpec`` for the knobs):

* A round is consumed once (rounds not newer than ``lastAnalysisAt`` or not newer than the
  current step's start are ignored). Its verdict is its worst check.
* Successful rounds count towards the step; Inconclusive never counts (no promotion on missing
  data); Failed resets the step's successes; ``failureThreshold`` consecutive Failed rounds roll
  back: canary weight 0 at once, phase RolledBack with the failed checks in the message.
* ``errorThreshold`` consecutive Error rounds pause the rollout for a human (a broken check is
  no evidence against the canary, and no evidence for it either).
* A canary without Ready pods gets no traffic before its first step, holds its step afterwards,
  and is rolled back once it has been unready for ``progressDeadline``, naming the pods' reason.
* Promotion swaps roles (PromoteCanary); the old stable stays warm for ``scaleDownDelay`` and
  an ``abort`` within that delay swaps back instantly (RestorePrevious).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from canaria_operator.analysis.result import CheckResult, Verdict, round_verdict
from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.actions import (
    Action,
    ClearActionAnnotation,
    CreateCanary,
    Decision,
    EmitEvent,
    PromoteCanary,
    RecordHistory,
    ReplaceStable,
    RestorePrevious,
    ScaleDown,
    SetTraffic,
)
from canaria_operator.rollout.model import (
    ManualAction,
    Observed,
    PauseCause,
    Phase,
    RolloutSpec,
    RolloutState,
    Stage,
    Strategy,
)

__all__ = ["ACTIVE_PHASES", "analysis_due", "decide", "next_analysis_at"]

ACTIVE_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED})
_ANALYSED_STAGES = frozenset({Stage.SHADOW, Stage.PREVIEW, Stage.STEPS})
_MAX_PASSES = 8


@dataclass
class _Ctx:
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


def decide(
    observed: Observed, spec: RolloutSpec, analysis: list[CheckResult], now: datetime
) -> Decision:
    """Next state and actions for one ModelDeployment (see the module docstring)."""
    ctx = _Ctx(state=observed.state, spec=spec, now=now)
    if observed.action is not None:
        _manual(ctx, observed, observed.action)
    for _ in range(_MAX_PASSES):
        before, n = ctx.state, len(ctx.actions)
        _transition(ctx, observed, analysis)
        if ctx.state == before and len(ctx.actions) == n:
            break
    return Decision(
        state=ctx.state,
        actions=tuple(ctx.actions),
        requeue_after=_requeue_after(ctx.state, spec, now),
        analysis_due=analysis_due(ctx.state, spec, now),
    )


def next_analysis_at(state: RolloutState, spec: RolloutSpec) -> datetime | None:
    """When the next analysis round is due (None: no analysis in this state)."""
    if state.phase not in ACTIVE_PHASES or state.stage not in _ANALYSED_STAGES:
        return None
    anchors = [t for t in (state.step_started_at, state.last_analysis_at) if t is not None]
    if not anchors:
        return None
    return max(anchors) + spec.analysis_interval


def analysis_due(state: RolloutState, spec: RolloutSpec, now: datetime) -> bool:
    """True when the operator should run an analysis round now (window = analysis interval)."""
    at = next_analysis_at(state, spec)
    return at is not None and now >= at


# --- transitions -----------------------------------------------------------------------------


def _transition(ctx: _Ctx, observed: Observed, analysis: list[CheckResult]) -> None:
    s, target = ctx.state, observed.target_version
    if s.stable_version is None:
        ctx.set(stable_version=target, reason=R.IDLE, message=f"serving {target}")
    elif ctx.spec.strategy is Strategy.IMMEDIATE and target != s.stable_version:
        _replace_immediately(ctx, target)
    elif target == s.stable_version:
        if s.phase in ACTIVE_PHASES:
            _rollback(ctx, R.SPEC_REVERTED, f"spec.model is back to stable {target}")
    elif s.phase is Phase.PROMOTED and target == s.previous_version:
        _restore_previous(ctx, R.RESTORED_PREVIOUS, f"spec.model is back to {target}, still warm")
    elif target != s.canary_version:
        if s.phase in ACTIVE_PHASES and s.canary_version is not None:
            _supersede(ctx, target)
        _start(ctx, target, R.ROLLOUT_STARTED)
    elif s.phase in ACTIVE_PHASES:
        _progress(ctx, observed, analysis)
    _timers(ctx)


def _start(ctx: _Ctx, version: str, reason: str) -> None:
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


def _progress(ctx: _Ctx, observed: Observed, analysis: list[CheckResult]) -> None:
    s, spec, now = ctx.state, ctx.spec, ctx.now
    pods = observed.canary
    need = pods.desired if pods is not None and spec.strategy is Strategy.BLUE_GREEN else 1
    ready = pods is not None and pods.ready >= max(1, need)
    if not ready:
        why = (pods.reason if pods is not None else None) or "no Ready canary pods"
        since = s.canary_unready_since or now
        if s.canary_unready_since is None:
            ctx.set(canary_unready_since=now)
        if now - since >= spec.progress_deadline:
            _rollback(
                ctx,
                R.PROGRESS_DEADLINE_EXCEEDED,
                f"canary {s.canary_version} not Ready for {spec.progress_deadline}: {why}",
            )
            return
        if s.stage is Stage.WAITING:
            ctx.set(reason=R.WAITING_FOR_CANARY, message=f"waiting for canary pods: {why}")
            return
    elif s.canary_unready_since is not None:
        ctx.set(canary_unready_since=None)
    if ctx.state.stage is Stage.WAITING:
        _enter_first_stage(ctx)
        return
    if _consume_round(ctx, analysis) or ctx.state.phase is not Phase.PROGRESSING:
        return
    if not ready:  # hold the step: passing checks cannot advance a canary without Ready pods
        return
    _maybe_advance(ctx)


def _enter_first_stage(ctx: _Ctx) -> None:
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
        _enter_step(ctx, 0)


def _enter_step(ctx: _Ctx, index: int) -> None:
    step = ctx.spec.steps[index]
    ctx.set(stage=Stage.STEPS, step_index=index, step_started_at=ctx.now, successes=0)
    ctx.traffic(step.weight, 0)
    ctx.event(
        "Normal",
        R.STEP_ADVANCED,
        f"step {index + 1}/{len(ctx.spec.steps)}: canary weight {step.weight}%",
    )


def _consume_round(ctx: _Ctx, analysis: list[CheckResult]) -> bool:
    """Count a new analysis round; True if it ended the rollout or paused it."""
    s, spec = ctx.state, ctx.spec
    if not analysis:
        return False
    at = max(r.at for r in analysis)
    if (s.last_analysis_at is not None and at <= s.last_analysis_at) or (
        s.step_started_at is not None and at <= s.step_started_at
    ):
        return False
    results = [r for r in analysis if r.at == at]
    verdict = round_verdict(results)
    ctx.set(last_analysis_at=at)
    summary = _summary(results)
    if verdict is Verdict.SUCCESSFUL:
        ctx.set(successes=s.successes + 1, consecutive_failures=0, consecutive_errors=0)
        ctx.set(
            reason=R.WAITING_FOR_ANALYSIS,
            message=(
                f"{ctx.state.successes} successful checks "
                f"({spec.successful_checks_per_step} needed) "
                f"at {_where(ctx.state, spec)}"
            ),
        )
    elif verdict is Verdict.FAILED:
        fails = s.consecutive_failures + 1
        ctx.set(successes=0, consecutive_failures=fails, consecutive_errors=0)
        if fails >= spec.failure_threshold:
            _rollback(ctx, R.ANALYSIS_FAILED, f"{fails} consecutive failed checks: {summary}")
            return True
        ctx.event(
            "Warning",
            R.ANALYSIS_FAILED,
            f"failed check {fails}/{spec.failure_threshold}: {summary}",
        )
    elif verdict is Verdict.ERROR:
        errors = s.consecutive_errors + 1
        ctx.set(consecutive_errors=errors)
        if errors >= spec.error_threshold and s.phase is Phase.PROGRESSING:
            ctx.set(phase=Phase.PAUSED, paused_by=PauseCause.ANALYSIS_ERROR)
            ctx.event(
                "Warning",
                R.ANALYSIS_ERRORING,
                f"paused after {errors} rounds with errors: {summary}",
            )
            return True
        ctx.set(reason=R.ANALYSIS_ERRORING, message=f"analysis error: {summary}")
    else:
        ctx.set(
            consecutive_errors=0,
            reason=R.WAITING_FOR_ANALYSIS,
            message=f"inconclusive (not counted): {summary}",
        )
    return False


def _maybe_advance(ctx: _Ctx) -> None:
    s, spec, now = ctx.state, ctx.spec, ctx.now
    if s.stage is Stage.STEPS and s.step_index >= len(spec.steps):
        ctx.set(step_index=len(spec.steps) - 1)  # spec lost steps mid-rollout
        s = ctx.state
    if s.stage is Stage.STEPS:
        ctx.traffic(spec.steps[s.step_index].weight, 0)  # re-apply if spec's weights changed
    if s.successes < spec.successful_checks_per_step:
        return
    if s.stage is Stage.STEPS:
        step = spec.steps[s.step_index]
        if (
            step.pause is not None
            and s.step_started_at is not None
            and (now < s.step_started_at + step.pause)
        ):
            if s.reason != R.STEP_PAUSE:
                ctx.set(
                    reason=R.STEP_PAUSE,
                    message=f"step {s.step_index + 1} holds until "
                    f"{(s.step_started_at + step.pause).isoformat()}",
                )
            return
        if step.pause_until_resumed:
            ctx.set(phase=Phase.PAUSED, paused_by=PauseCause.STEP)
            ctx.event(
                "Normal",
                R.STEP_PAUSE,
                f"step {s.step_index + 1} passed; paused until `canaria resume`",
            )
            return
    _advance(ctx)


def _advance(ctx: _Ctx) -> None:
    s, spec = ctx.state, ctx.spec
    if s.stage is Stage.SHADOW:
        ctx.event("Normal", R.SHADOW_PASSED, "shadow analysis passed")
        _enter_step(ctx, 0)
    elif s.stage is Stage.STEPS and s.step_index + 1 < len(spec.steps):
        _enter_step(ctx, s.step_index + 1)
    else:
        _promote(ctx, R.PROMOTED, f"{s.canary_version} passed every step and is now stable")


def _promote(ctx: _Ctx, reason: str, message: str) -> None:
    s, now = ctx.state, ctx.now
    assert s.canary_version is not None
    if s.previous_version is not None:
        ctx.actions.append(ScaleDown(track="previous", version=s.previous_version))
    ctx.actions.append(PromoteCanary(version=s.canary_version, previous_version=s.stable_version))
    ctx.actions.append(
        RecordHistory(
            version=s.canary_version,
            result="Promoted",
            reason=reason,
            started_at=s.started_at,
            finished_at=now,
        )
    )
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


def _end_canary(
    ctx: _Ctx, result: Literal["RolledBack", "Superseded"], reason: str, message: str
) -> None:
    s = ctx.state
    ctx.traffic(0, 0)
    assert s.canary_version is not None
    ctx.actions.append(
        RecordHistory(
            version=s.canary_version,
            result=result,
            reason=reason,
            started_at=s.started_at,
            finished_at=ctx.now,
        )
    )
    ctx.set(
        phase=Phase.ROLLED_BACK,
        stage=None,
        paused_by=None,
        canary_unready_since=None,
        canary_scale_down_at=ctx.now + ctx.spec.scale_down_delay,
    )
    ctx.event("Warning", reason, message)


def _supersede(ctx: _Ctx, target: str) -> None:
    old = ctx.state.canary_version
    _end_canary(ctx, "Superseded", R.SUPERSEDED, f"{old} superseded by {target}")


def _rollback(ctx: _Ctx, reason: str, message: str) -> None:
    _end_canary(ctx, "RolledBack", reason, f"rolled back {ctx.state.canary_version}: {message}")


def _restore_previous(ctx: _Ctx, reason: str, message: str) -> None:
    s = ctx.state
    assert s.previous_version is not None
    assert s.stable_version is not None
    ctx.actions.append(
        RestorePrevious(version=s.previous_version, demoted_version=s.stable_version)
    )
    ctx.actions.append(
        RecordHistory(
            version=s.stable_version,
            result="RolledBack",
            reason=reason,
            started_at=s.started_at,
            finished_at=ctx.now,
        )
    )
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


def _replace_immediately(ctx: _Ctx, target: str) -> None:
    s = ctx.state
    if s.phase in ACTIVE_PHASES and s.canary_version is not None:
        _supersede(ctx, target)
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


def _timers(ctx: _Ctx) -> None:
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


# --- manual actions --------------------------------------------------------------------------


def _manual(ctx: _Ctx, observed: Observed, action: ManualAction) -> None:
    ctx.actions.append(ClearActionAnnotation(action=action.value))
    s = ctx.state
    why = _manual_refusal(s, observed, action)
    if why is not None:
        ctx.actions.append(
            EmitEvent(
                type="Warning", reason=R.ACTION_IGNORED, message=f"{action.value} ignored: {why}"
            )
        )
        return
    if action is ManualAction.PROMOTE:
        _promote(ctx, R.MANUAL_PROMOTION, f"{s.canary_version} promoted by user")
    elif action is ManualAction.ABORT and s.phase in ACTIVE_PHASES:
        _rollback(ctx, R.ABORTED, "aborted by user")
    elif action is ManualAction.ABORT:
        _restore_previous(ctx, R.ABORTED, f"aborted by user: back to {s.previous_version}")
    elif action is ManualAction.PAUSE:
        ctx.set(phase=Phase.PAUSED, paused_by=PauseCause.USER)
        ctx.event("Normal", R.MANUAL_PAUSE, "paused by user")
    elif action is ManualAction.RESUME:
        cause = s.paused_by
        ctx.set(phase=Phase.PROGRESSING, paused_by=None, consecutive_errors=0)
        ctx.event("Normal", R.RESUMED, "resumed by user")
        if cause is PauseCause.STEP:
            _advance(ctx)
    else:  # RETRY
        assert s.canary_version is not None
        _start(ctx, s.canary_version, R.RETRYING)


def _manual_refusal(s: RolloutState, observed: Observed, action: ManualAction) -> str | None:
    active = s.phase in ACTIVE_PHASES
    if action is ManualAction.PROMOTE:
        if not active:
            return f"no rollout in progress (phase {s.phase})"
        pods = observed.canary
        if pods is None or pods.ready < 1:
            return "the canary has no Ready pods"
    elif action is ManualAction.ABORT:
        if not active and not (s.phase is Phase.PROMOTED and s.previous_version is not None):
            return f"nothing to abort (phase {s.phase})"
    elif action is ManualAction.PAUSE:
        if s.phase is not Phase.PROGRESSING:
            return f"not progressing (phase {s.phase})"
    elif action is ManualAction.RESUME:
        if s.phase is not Phase.PAUSED:
            return f"not paused (phase {s.phase})"
    elif s.phase is not Phase.ROLLED_BACK or s.canary_version != observed.target_version:
        return f"only a rolled-back rollout of the current spec can be retried (phase {s.phase})"
    return None


# --- helpers ---------------------------------------------------------------------------------


def _where(s: RolloutState, spec: RolloutSpec) -> str:
    if s.stage is Stage.STEPS:
        return f"step {s.step_index + 1}/{len(spec.steps)} ({s.canary_weight}%)"
    return f"stage {s.stage}"


def _summary(results: list[CheckResult]) -> str:
    bad = [r for r in results if r.verdict is not Verdict.SUCCESSFUL] or results
    return "; ".join(f"{r.metric} {r.verdict.value}: {r.message}" for r in bad) or "no checks"


def _requeue_after(state: RolloutState, spec: RolloutSpec, now: datetime) -> timedelta | None:
    times = [
        next_analysis_at(state, spec),
        state.canary_scale_down_at,
        state.previous_scale_down_at,
    ]
    if state.phase in ACTIVE_PHASES and state.canary_unready_since is not None:
        times.append(state.canary_unready_since + spec.progress_deadline)
    if (
        state.phase is Phase.PROGRESSING
        and state.stage is Stage.STEPS
        and (0 <= state.step_index < len(spec.steps))
    ):
        pause = spec.steps[state.step_index].pause
        if pause is not None and state.step_started_at is not None:
            times.append(state.step_started_at + pause)
    due = [t for t in times if t is not None]
    if not due:
        return None
    return max(min(due) - now, timedelta(0))
