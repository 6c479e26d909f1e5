"""Gates of the rollout state machine (pure): what a rollout waits for besides its checks.

* **Acceptance** (``spec.rollout.acceptance``): once the canary is Ready and before it gets
  any client traffic, the operator runs an acceptance Job (named by ``acceptanceAttempt``);
  its result, read by observe, is judged against the thresholds here. Failed (or no result
  by the deadline): rolled back, no client request ever reached the canary.
* **Pre-rollout hooks**: after acceptance, before the first stage; every analysis interval
  they are called again until all answer 2xx; ``failureThreshold`` failed calls roll back.
* **Truths that take time** (``labelDelay``): the stage before the promotion lasts at least
  this long, so the requests it sent to the canary have been judged on their truth.
* **Confirm-promotion hooks**: when the last stage has passed, the promotion waits until
  every such hook answers 2xx (called every analysis interval; the analysis keeps running
  and can still roll back).
* **Rollback hooks** (Flagger's meaning): asked every round and at every gate call; a 2xx
  rolls back at once.
* **Post-rollout hooks**: called once after a promotion or a rollback (notifications; a
  failure is an Event and status, nothing else).

The shell calls the hooks :func:`hooks_due` names before deciding and passes their answers
in :class:`~canaria_operator.rollout.model.RolloutInput`; the machine only reads them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pydantic import ValidationError

from canaria_operator.rollout import reasons as R
from canaria_operator.rollout.decision import AcceptanceReport
from canaria_operator.rollout.model import (
    ACTIVE_PHASES,
    Gate,
    HookAnswer,
    HookType,
    Phase,
    RolloutInput,
    RolloutSpec,
    RolloutState,
    Stage,
    Strategy,
)
from canaria_operator.rollout.transitions import Ctx, enter_first_stage, rollback
from canaria_serving.evaluation.result import Evaluation, Thresholds, judge

__all__ = [
    "ACCEPTANCE_GRACE",
    "ACCEPTANCE_POLL",
    "acceptance_attempt",
    "before_traffic",
    "gate_times",
    "hooks_due",
    "may_promote",
    "post_rollout",
    "promotes_next",
    "rollback_requested",
]

ACCEPTANCE_POLL = timedelta(seconds=5)  # how often a running acceptance Job is looked at
ACCEPTANCE_GRACE = timedelta(minutes=1)  # beyond its timeout, for a Job that never started


def acceptance_attempt(version: str, now: datetime) -> str:
    """A short name for one acceptance test of one rollout (a retry gets a new one)."""
    return hashlib.sha256(f"{version}@{now.isoformat()}".encode()).hexdigest()[:8]


def _answers(inputs: RolloutInput, kind: HookType, state: RolloutState) -> list[HookAnswer]:
    """Answers of ``kind`` hooks not consumed yet (newer than the gate's last call)."""
    last = state.last_gate_call_at
    return [a for a in inputs.hooks if a.type is kind and (last is None or a.at > last)]


def _said(answers: list[HookAnswer]) -> str:
    return "; ".join(
        f"{a.name} answered {a.code if a.code is not None else 'nothing'}"
        + (f": {a.message[:200]}" if a.message else "")
        for a in answers
    )


# --- before any client traffic -------------------------------------------------------------


def before_traffic(ctx: Ctx, inputs: RolloutInput) -> None:
    """The canary is Ready and has no traffic yet: acceptance, pre-rollout, first stage."""
    s, spec = ctx.state, ctx.spec
    if s.gate is Gate.ACCEPTANCE:
        _judge_acceptance(ctx, inputs)
    elif s.gate is Gate.PRE_ROLLOUT:
        _pre_rollout(ctx, inputs)
    elif spec.acceptance is not None and s.acceptance_attempt is None:
        _start_acceptance(ctx)
    elif HookType.PRE_ROLLOUT in spec.hooks:
        ctx.set(gate=Gate.PRE_ROLLOUT, gate_since=ctx.now, last_gate_call_at=None)
        ctx.set(reason=R.WAITING_FOR_HOOKS, message="calling the pre-rollout hooks")
    else:
        enter_first_stage(ctx)


def _start_acceptance(ctx: Ctx) -> None:
    s, now = ctx.state, ctx.now
    assert s.canary_version is not None
    attempt = acceptance_attempt(s.canary_version, now)
    ctx.set(gate=Gate.ACCEPTANCE, gate_since=now, acceptance_attempt=attempt)
    message = f"acceptance test of {s.canary_version} started (attempt {attempt})"
    ctx.event("Normal", R.ACCEPTANCE_STARTED, message)
    ctx.set(reason=R.WAITING_FOR_ACCEPTANCE, message=message)
    ctx.acceptance = AcceptanceReport(
        version=s.canary_version, verdict="Running", message=message, attempt=attempt,
        started_at=now,
    )  # fmt: skip


def _judge_acceptance(ctx: Ctx, inputs: RolloutInput) -> None:
    s, spec, now = ctx.state, ctx.spec, ctx.now
    assert spec.acceptance is not None
    assert s.acceptance_attempt is not None
    read = inputs.acceptance
    if read is None or read.attempt != s.acceptance_attempt or not read.finished:
        since = s.gate_since or now
        if now >= since + spec.acceptance.timeout + ACCEPTANCE_GRACE:
            _acceptance_error(ctx, f"no result within {spec.acceptance.timeout}")
        return
    evaluation = None
    try:
        if read.result:
            evaluation = Evaluation.model_validate_json(read.result)
    except ValidationError:
        pass
    if evaluation is None:
        why = read.failure or "the Job left no result"
        if read.result:
            why = _error_of(read.result) or f"unreadable result {read.result[:200]!r}"
        _acceptance_error(ctx, why)
        return
    a = spec.acceptance
    thresholds = Thresholds(
        min_accuracy=a.min_accuracy, max_drop_vs_stable=a.max_drop_vs_stable, max_error=a.max_error
    )
    passed, why = judge(evaluation, thresholds)
    per_class = ", ".join(
        f"{c.label} {c.accuracy:.0%}" + (f"/{c.stable:.0%}" if c.stable is not None else "")
        for c in evaluation.classes[:8]
    )
    detail = f"{why}; per class (canary/stable): {per_class}" if per_class else why
    _report(ctx, "Passed" if passed else "Failed", detail, read.result)
    if not passed:
        rollback(ctx, R.ACCEPTANCE_FAILED, f"acceptance test failed: {detail}")
        return
    ctx.event("Normal", R.ACCEPTANCE_PASSED, f"acceptance test passed: {detail}")
    ctx.set(gate=None, gate_since=None)


def _error_of(result: str) -> str | None:
    import json

    try:
        data = json.loads(result)
    except ValueError:
        return None
    return str(data["error"]) if isinstance(data, dict) and "error" in data else None


def _report(ctx: Ctx, verdict: str, message: str, evaluation: str | None) -> None:
    s = ctx.state
    assert s.canary_version is not None
    assert s.acceptance_attempt is not None
    ctx.acceptance = AcceptanceReport.model_validate(
        {
            "version": s.canary_version,
            "verdict": verdict,
            "message": message[:1000],
            "attempt": s.acceptance_attempt,
            "started_at": s.gate_since,
            "finished_at": ctx.now,
            "evaluation": evaluation,
        }
    )


def _acceptance_error(ctx: Ctx, why: str) -> None:
    _report(ctx, "Error", why, None)
    rollback(ctx, R.ACCEPTANCE_ERROR, f"the acceptance test could not run: {why}")


def _pre_rollout(ctx: Ctx, inputs: RolloutInput) -> None:
    s, spec = ctx.state, ctx.spec
    answers = _answers(inputs, HookType.PRE_ROLLOUT, s)
    if not answers:
        return
    ctx.set(last_gate_call_at=max(a.at for a in answers))
    failed = [a for a in answers if not a.passed]
    if not failed:
        ctx.event("Normal", R.PRE_ROLLOUT_PASSED, "pre-rollout hooks passed")
        ctx.set(gate=None, gate_since=None)
        enter_first_stage(ctx)
        return
    attempts = s.gate_attempts + 1
    ctx.set(gate_attempts=attempts)
    said = f"{_said(failed)} ({attempts}/{spec.failure_threshold})"
    if attempts >= spec.failure_threshold:
        rollback(ctx, R.PRE_ROLLOUT_FAILED, f"pre-rollout hooks failed: {said}")
        return
    ctx.event("Warning", R.PRE_ROLLOUT_FAILED, f"pre-rollout hooks failed: {said}")


# --- before the promotion ------------------------------------------------------------------


def promotes_next(state: RolloutState, spec: RolloutSpec) -> bool:
    """Passing the current stage promotes (the last step, or the BlueGreen preview)."""
    if state.stage is Stage.PREVIEW:
        return True
    return state.stage is Stage.STEPS and state.step_index + 1 >= len(spec.steps)


def may_promote(ctx: Ctx, inputs: RolloutInput) -> bool:
    """The last stage has passed its checks: has it lasted ``labelDelay``, and do the
    confirm-promotion hooks agree?"""
    s, spec, now = ctx.state, ctx.spec, ctx.now
    if spec.label_delay and s.step_started_at is not None:
        until = s.step_started_at + spec.label_delay
        if now < until:
            if s.reason != R.WAITING_FOR_LABELS:
                ctx.set(
                    reason=R.WAITING_FOR_LABELS,
                    message=f"holds until {until.isoformat()}: the truths of the requests this "
                    f"stage sent to the canary take up to labelDelay {spec.label_delay}",
                )
            return False
    if HookType.CONFIRM_PROMOTION not in spec.hooks:
        return True
    if s.gate is not Gate.CONFIRM:
        ctx.set(gate=Gate.CONFIRM, gate_since=now, last_gate_call_at=None)
        message = "the promotion waits for the confirm-promotion hooks"
        ctx.event("Normal", R.WAITING_FOR_CONFIRMATION, message)
        return False
    answers = _answers(inputs, HookType.CONFIRM_PROMOTION, s)
    if not answers:
        return False
    ctx.set(last_gate_call_at=max(a.at for a in answers))
    failed = [a for a in answers if not a.passed]
    if not failed:
        ctx.set(gate=None, gate_since=None)
        return True
    message = f"promotion not confirmed: {_said(failed)}"
    if s.reason != R.PROMOTION_NOT_CONFIRMED:
        ctx.event("Normal", R.PROMOTION_NOT_CONFIRMED, message)
    ctx.set(reason=R.PROMOTION_NOT_CONFIRMED, message=message)
    return False


# --- any time ------------------------------------------------------------------------------


def rollback_requested(ctx: Ctx, inputs: RolloutInput) -> bool:
    """A rollback hook answered 2xx: roll back now (True when it did)."""
    asked = [a for a in inputs.hooks if a.type is HookType.ROLLBACK and a.passed]
    if not asked or ctx.state.phase not in ACTIVE_PHASES:
        return False
    rollback(ctx, R.ROLLBACK_REQUESTED, f"rollback hook {_said(asked)}")
    return True


def post_rollout(ctx: Ctx, inputs: RolloutInput) -> None:
    """The post-rollout hooks were called: done (a failure is only reported)."""
    answers = [a for a in inputs.hooks if a.type is HookType.POST_ROLLOUT]
    if not answers or not ctx.state.post_rollout_pending:
        return
    ctx.set(post_rollout_pending=False)
    failed = [a for a in answers if not a.passed]
    if failed:
        ctx.note("Warning", R.POST_ROLLOUT_FAILED, f"post-rollout hooks failed: {_said(failed)}")


def hooks_due(
    state: RolloutState, spec: RolloutSpec, now: datetime, *, round_due: bool
) -> frozenset[HookType]:
    """The hook types to call before deciding at ``now`` (``round_due``: an analysis round
    runs now; rollout hooks are part of it)."""
    due: set[HookType] = set()
    active = state.phase in ACTIVE_PHASES
    if active and round_due:
        due |= {HookType.ROLLOUT, HookType.ROLLBACK}
    gate_hook = {Gate.PRE_ROLLOUT: HookType.PRE_ROLLOUT, Gate.CONFIRM: HookType.CONFIRM_PROMOTION}
    if state.phase is Phase.PROGRESSING and state.gate in gate_hook:
        last = state.last_gate_call_at
        if last is None or now >= last + spec.analysis_interval:
            due |= {gate_hook[state.gate], HookType.ROLLBACK}
    if state.post_rollout_pending:
        due.add(HookType.POST_ROLLOUT)
    return frozenset(due & spec.hooks)


def gate_times(state: RolloutState, spec: RolloutSpec, now: datetime) -> list[datetime]:
    """When a gate needs another look (for the requeue)."""
    times: list[datetime] = []
    if state.post_rollout_pending:
        times.append(now)
    if state.phase is not Phase.PROGRESSING:
        return times
    if state.gate is Gate.ACCEPTANCE:
        times.append(now + ACCEPTANCE_POLL)
    elif state.gate is not None:
        last = state.last_gate_call_at
        times.append(now if last is None else last + spec.analysis_interval)
    if (
        spec.label_delay
        and state.step_started_at is not None
        and promotes_next(state, spec)
        and spec.strategy is not Strategy.IMMEDIATE
    ):
        times.append(state.step_started_at + spec.label_delay)
    return times
