"""The rollout state machine: ``decide(inputs, spec, analysis, now) -> Decision``.

Pure and deterministic (no I/O, no clock: ``now`` is an argument). The operator observes the
world, runs an analysis round when :func:`analysis_due` says so, calls ``decide`` with the
round's results, makes the cluster match ``Decision.state`` and writes it to status once.
``decide`` runs its transitions to a fixpoint, so calling it again with the returned state and
the same inputs changes nothing (idempotent).

Rules (see ``RolloutSpec`` for the knobs):

* A round is consumed once (rounds not newer than ``lastAnalysisAt`` or not newer than the
  current step's start are ignored). Its verdict is its worst check.
* Successful rounds count towards the step; Inconclusive never counts (no promotion on missing
  data); Failed resets the step's successes; ``failureThreshold`` consecutive Failed rounds roll
  back: canary weight 0 at once, phase RolledBack with the failed checks in the message.
* ``errorThreshold`` consecutive Error rounds pause the rollout for a human (a broken check is
  no evidence against the canary, and no evidence for it either).
* ``maxInconclusiveRounds`` consecutive Inconclusive rounds pause it too (reason
  ``AnalysisInconclusive``): a rollout never waits silently for data that does not come.
* A stage without checks (``RolloutSpec.judged_stages``) is passed on time alone: once the
  canary is Ready, after the step's pause or one analysis interval (reason ``NotJudged``).
* A canary without Ready pods gets no traffic before its first step, holds its step afterwards,
  and is rolled back once it has been unready for ``progressDeadline``, naming the pods' reason.
* Promotion swaps roles (the canary's Deployment becomes stable as it is); the old stable stays
  warm for ``scaleDownDelay`` and an ``abort`` within that delay swaps back instantly.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from canaria_operator.analysis.result import CheckResult, Verdict, round_verdict
from canaria_operator.rollout import gates
from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.decision import Decision
from canaria_operator.rollout.model import (
    ACTIVE_PHASES,
    ANALYSED_STAGES,
    ManualAction,
    PauseCause,
    Phase,
    RolloutInput,
    RolloutSpec,
    RolloutState,
    Stage,
    Strategy,
)
from canaria_operator.rollout.transitions import (
    Ctx,
    advance,
    promote,
    replace_immediately,
    restore_previous,
    rollback,
    start,
    supersede,
    timers,
)

__all__ = ["analysis_due", "decide", "next_analysis_at"]

_MAX_PASSES = 8


def decide(
    inputs: RolloutInput, spec: RolloutSpec, analysis: list[CheckResult], now: datetime
) -> Decision:
    """Next state, Events and history for one ModelDeployment (see the module docstring)."""
    ctx = Ctx(state=inputs.state, spec=spec, now=now)
    gates.post_rollout(ctx, inputs)
    if inputs.action is not None:
        _manual(ctx, inputs, inputs.action)
    for _ in range(_MAX_PASSES):
        before, recorded = ctx.state, ctx.progress()
        _transition(ctx, inputs, analysis)
        if ctx.state == before and ctx.progress() == recorded:
            break
    return Decision(
        state=ctx.state,
        events=tuple(ctx.events),
        history=tuple(ctx.history),
        action_consumed=ctx.action_consumed,
        requeue_after=_requeue_after(ctx.state, spec, now),
        analysis_due=analysis_due(ctx.state, spec, now),
        acceptance=ctx.acceptance,
    )


def _judged(state: RolloutState, spec: RolloutSpec) -> bool:
    return state.stage in ANALYSED_STAGES and state.stage in spec.judged_stages


def next_analysis_at(state: RolloutState, spec: RolloutSpec) -> datetime | None:
    """When the next analysis round is due (None: no analysis in this state)."""
    if state.phase not in ACTIVE_PHASES or not _judged(state, spec):
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


def _transition(ctx: Ctx, inputs: RolloutInput, analysis: list[CheckResult]) -> None:
    s, target = ctx.state, inputs.target_version
    if s.stable_version is None:
        ctx.set(stable_version=target, reason=R.IDLE, message=f"serving {target}")
    elif target == s.stable_version:
        if s.phase in ACTIVE_PHASES:
            rollback(ctx, R.SPEC_REVERTED, f"spec.model is back to stable {target}")
    elif s.phase is Phase.PROMOTED and target == s.previous_version:
        restore_previous(ctx, R.RESTORED_PREVIOUS, f"spec.model is back to {target}, still warm")
    elif target != s.canary_version:
        if s.phase in ACTIVE_PHASES and s.canary_version is not None:
            supersede(ctx, target)
        start(ctx, target, R.ROLLOUT_STARTED)
    elif s.phase in ACTIVE_PHASES:
        _progress(ctx, inputs, analysis)
    timers(ctx)


def _progress(ctx: Ctx, inputs: RolloutInput, analysis: list[CheckResult]) -> None:
    s, spec, now = ctx.state, ctx.spec, ctx.now
    if gates.rollback_requested(ctx, inputs):
        return
    pods = inputs.canary
    need = pods.desired if pods is not None and spec.strategy is Strategy.BLUE_GREEN else 1
    ready = pods is not None and pods.ready >= max(1, need)
    if not ready:
        why = (pods.reason if pods is not None else None) or "no Ready canary pods"
        since = s.canary_unready_since or now
        if s.canary_unready_since is None:
            ctx.set(canary_unready_since=now)
        if now - since >= spec.progress_deadline:
            rollback(
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
    if spec.strategy is Strategy.IMMEDIATE:  # its pods are Ready: it takes over at once
        replace_immediately(ctx)
        return
    if ctx.state.stage is Stage.WAITING:
        gates.before_traffic(ctx, inputs)
        return
    if _consume_round(ctx, analysis) or ctx.state.phase is not Phase.PROGRESSING:
        return
    if not ready:  # hold the step: passing checks cannot advance a canary without Ready pods
        return
    _maybe_advance(ctx, inputs)


def _consume_round(ctx: Ctx, analysis: list[CheckResult]) -> bool:
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

    def say(reason: str, message: str) -> None:
        """Rounds keep running while paused or at a gate; their reason stays in status."""
        if ctx.state.phase is Phase.PROGRESSING and ctx.state.gate is None:
            ctx.set(reason=reason, message=message)

    if verdict is Verdict.SUCCESSFUL:
        ctx.set(
            successes=s.successes + 1,
            consecutive_failures=0,
            consecutive_errors=0,
            consecutive_inconclusive=0,
        )
        say(
            R.WAITING_FOR_ANALYSIS,
            f"{ctx.state.successes} successful checks "
            f"({spec.successful_checks_per_step} needed) at {_where(ctx.state, spec)}",
        )
    elif verdict is Verdict.FAILED:
        fails = s.consecutive_failures + 1
        ctx.set(
            successes=0,
            consecutive_failures=fails,
            consecutive_errors=0,
            consecutive_inconclusive=0,
        )
        if fails >= spec.failure_threshold:
            rollback(ctx, R.ANALYSIS_FAILED, f"{fails} consecutive failed checks: {summary}")
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
        say(R.ANALYSIS_ERRORING, f"analysis error: {summary}")
    else:
        undecided = s.consecutive_inconclusive + 1
        ctx.set(consecutive_errors=0, consecutive_inconclusive=undecided)
        limit = spec.max_inconclusive_rounds
        if undecided >= limit and s.phase is Phase.PROGRESSING:
            ctx.set(phase=Phase.PAUSED, paused_by=PauseCause.INCONCLUSIVE)
            ctx.event(
                "Warning",
                R.ANALYSIS_INCONCLUSIVE,
                f"paused after {undecided} inconclusive rounds (maxInconclusiveRounds "
                f"{limit}): {summary}; `canaria resume` to keep waiting, or promote/abort",
            )
            return True
        say(R.WAITING_FOR_ANALYSIS, f"inconclusive {undecided}/{limit} (not counted): {summary}")
    return False


def _maybe_advance(ctx: Ctx, inputs: RolloutInput) -> None:
    s, spec, now = ctx.state, ctx.spec, ctx.now
    if s.stage is Stage.STEPS and s.step_index >= len(spec.steps):
        ctx.set(step_index=len(spec.steps) - 1)  # spec lost steps mid-rollout
        s = ctx.state
    if s.stage is Stage.STEPS:
        ctx.traffic(spec.steps[s.step_index].weight, 0)  # re-apply if spec's weights changed
    if not _judged(s, spec):
        if not _soaked(ctx):
            return
    elif s.successes < spec.successful_checks_per_step:
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
    if gates.promotes_next(s, spec) and not gates.may_promote(ctx, inputs):
        return
    advance(ctx)


def _soaked(ctx: Ctx) -> bool:
    """A stage without checks: passed after one analysis interval (a step's pause, checked
    next, may hold it longer); until then status says it is not judged."""
    s, spec, now = ctx.state, ctx.spec, ctx.now
    until = (s.step_started_at or now) + spec.analysis_interval
    if now >= until:
        return True
    if s.reason != R.NOT_JUDGED:
        ctx.set(
            reason=R.NOT_JUDGED,
            message=f"no checks measure {_where(s, spec)} (spec.rollout.analysis): it passes "
            f"on time alone at {until.isoformat()}",
        )
    return False


# --- manual actions --------------------------------------------------------------------------


def _manual(ctx: Ctx, inputs: RolloutInput, action: ManualAction) -> None:
    ctx.action_consumed = True
    s = ctx.state
    why = _manual_refusal(s, inputs, action)
    if why is not None:
        ctx.note("Warning", R.ACTION_IGNORED, f"{action.value} ignored: {why}")
        return
    if action is ManualAction.PROMOTE:
        promote(ctx, R.MANUAL_PROMOTION, f"{s.canary_version} promoted by user")
    elif action is ManualAction.ABORT and s.phase in ACTIVE_PHASES:
        rollback(ctx, R.ABORTED, "aborted by user")
    elif action is ManualAction.ABORT:
        restore_previous(ctx, R.ABORTED, f"aborted by user: back to {s.previous_version}")
    elif action is ManualAction.PAUSE:
        ctx.set(phase=Phase.PAUSED, paused_by=PauseCause.USER)
        ctx.event("Normal", R.MANUAL_PAUSE, "paused by user")
    elif action is ManualAction.RESUME:
        cause = s.paused_by
        ctx.set(
            phase=Phase.PROGRESSING,
            paused_by=None,
            consecutive_errors=0,
            consecutive_inconclusive=0,
        )
        ctx.event("Normal", R.RESUMED, "resumed by user")
        if cause is PauseCause.STEP:
            advance(ctx)
    else:  # RETRY
        assert s.canary_version is not None
        start(ctx, s.canary_version, R.RETRYING)


def _manual_refusal(s: RolloutState, inputs: RolloutInput, action: ManualAction) -> str | None:
    active = s.phase in ACTIVE_PHASES
    if action is ManualAction.PROMOTE:
        if not active:
            return f"no rollout in progress (phase {s.phase})"
        pods = inputs.canary
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
    elif s.phase is not Phase.ROLLED_BACK or s.canary_version != inputs.target_version:
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
    unjudged = state.stage in ANALYSED_STAGES and not _judged(state, spec)
    if state.phase is Phase.PROGRESSING and unjudged and state.step_started_at is not None:
        times.append(state.step_started_at + spec.analysis_interval)
    if (
        state.phase is Phase.PROGRESSING
        and state.stage is Stage.STEPS
        and (0 <= state.step_index < len(spec.steps))
    ):
        pause = spec.steps[state.step_index].pause
        if pause is not None and state.step_started_at is not None:
            times.append(state.step_started_at + pause)
    times += gates.gate_times(state, spec, now)
    due = [t for t in times if t is not None]
    if not due:
        return None
    return max(min(due) - now, timedelta(0))
