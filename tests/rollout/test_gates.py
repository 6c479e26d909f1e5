"""The gates of the state machine: acceptance before any traffic, pre-rollout hooks, truths
that take time, confirm-promotion, rollback and post-rollout hooks, and replay while the
canary gets mirrored traffic."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canaria_operator.analysis.result import Verdict
from canaria_operator.rollout import (
    AcceptanceRead,
    AcceptanceSpec,
    Gate,
    HookAnswer,
    HookType,
    Phase,
    RolloutSpec,
    Stage,
    Step,
    Strategy,
)
from canaria_operator.rollout.gates import ACCEPTANCE_GRACE, hooks_due
from canaria_serving.evaluation.result import ClassFigures, Evaluation, ModelFigures
from tests.rollout.helpers import Sim

STEPS = (Step(weight=10), Step(weight=50))
INTERVAL = timedelta(seconds=30)


def _spec(**kw: object) -> RolloutSpec:
    return RolloutSpec(steps=STEPS, analysis_interval=INTERVAL, **kw)


def _started(spec: RolloutSpec) -> Sim:
    sim = Sim(spec)
    sim.tick()  # v1 stable
    sim.target = "v2"
    sim.tick()
    sim.ready()
    return sim


def _result(canary: float, stable: float) -> str:
    return Evaluation(
        task="classification",
        rows=100,
        canary=ModelFigures(rows=100, accuracy=canary, version="v2"),
        stable=ModelFigures(rows=100, accuracy=stable, version="v1"),
        classes=(ClassFigures(label="0", support=60, accuracy=canary, stable=stable),),
    ).model_dump_json()


def _answer(sim: Sim, kind: HookType, passed: bool, code: int = 200, name: str = "h") -> HookAnswer:
    return HookAnswer(
        name=name, type=kind, passed=passed, at=sim.now, code=code, message="" if passed else "no"
    )


# --- acceptance --------------------------------------------------------------------------------

ACCEPT = AcceptanceSpec(min_accuracy=0.9, max_drop_vs_stable=0.02, timeout=timedelta(minutes=2))


def test_acceptance_runs_before_any_traffic_and_a_pass_takes_the_first_step() -> None:
    sim = _started(_spec(acceptance=ACCEPT))
    d = sim.tick()
    s = d.state
    assert (s.gate, s.stage, s.canary_weight) == (Gate.ACCEPTANCE, Stage.WAITING, 0)
    assert s.acceptance_attempt is not None
    assert d.acceptance is not None
    assert d.acceptance.verdict == "Running"
    assert "AcceptanceStarted" in sim.reasons(d)
    sim.acceptance = AcceptanceRead(attempt=s.acceptance_attempt)  # the Job runs
    for _ in range(5):
        d = sim.tick(advance=timedelta(seconds=5))
        assert d.state.canary_weight == 0
        assert d.requeue_after == timedelta(seconds=5)  # looked at again soon
    sim.acceptance = AcceptanceRead(
        attempt=s.acceptance_attempt, finished=True, result=_result(0.95, 0.96)
    )
    d = sim.tick()
    assert "AcceptancePassed" in sim.reasons(d)
    assert d.acceptance is not None
    assert d.acceptance.verdict == "Passed"
    assert "per class (canary/stable): 0 95%/96%" in d.acceptance.message
    assert (d.state.gate, d.state.stage, d.state.canary_weight) == (None, Stage.STEPS, 10)


@pytest.mark.parametrize(
    ("read", "reason", "verdict", "says"),
    [
        ({"result": _result(0.85, 0.96)}, "AcceptanceFailed", "Failed", "below minAccuracy"),
        ({"result": _result(0.93, 0.96)}, "AcceptanceFailed", "Failed", "below the stable's"),
        (
            {"result": '{"error": "canaria evaluate: no label column \'y\'"}'},
            "AcceptanceError",
            "Error",
            "no label column",
        ),
        (
            {"failure": "Job DeadlineExceeded: active too long; fetching the dataset: 404"},
            "AcceptanceError",
            "Error",
            "fetching the dataset: 404",
        ),
    ],
    ids=["accuracy", "drop", "bad-dataset", "job-failed"],
)
def test_a_failed_acceptance_rolls_back_before_any_client_request(
    read: dict[str, str], reason: str, verdict: str, says: str
) -> None:
    sim = _started(_spec(acceptance=ACCEPT))
    attempt = sim.tick().state.acceptance_attempt
    assert attempt is not None
    sim.acceptance = AcceptanceRead(attempt=attempt, finished=True, **read)
    d = sim.tick()
    assert d.state.phase is Phase.ROLLED_BACK
    assert d.state.reason == reason
    assert says in d.state.message
    assert d.acceptance is not None
    assert d.acceptance.verdict == verdict
    assert sim.weights == [], "the canary never got a weight"


def test_no_result_by_the_deadline_is_an_error_and_a_retry_runs_a_new_test() -> None:
    sim = _started(_spec(acceptance=ACCEPT))
    first = sim.tick().state.acceptance_attempt
    d = sim.tick(advance=ACCEPT.timeout + ACCEPTANCE_GRACE)
    assert (d.state.phase, d.state.reason) == (Phase.ROLLED_BACK, "AcceptanceError")
    from canaria_operator.rollout import ManualAction

    sim.tick(action=ManualAction.RETRY, advance=timedelta(seconds=1))
    d = sim.tick()
    assert d.state.gate is Gate.ACCEPTANCE
    assert d.state.acceptance_attempt not in (None, first)


def test_an_old_attempts_result_is_not_taken_for_the_current_one() -> None:
    sim = _started(_spec(acceptance=ACCEPT))
    sim.tick()
    sim.acceptance = AcceptanceRead(attempt="other", finished=True, result=_result(0.99, 0.9))
    d = sim.tick()
    assert d.state.gate is Gate.ACCEPTANCE


# --- hooks -------------------------------------------------------------------------------------


def test_pre_rollout_hooks_hold_the_first_step_then_roll_back_after_failure_threshold() -> None:
    spec = _spec(hooks=frozenset({HookType.PRE_ROLLOUT}), failure_threshold=2)
    sim = _started(spec)
    d = sim.tick()
    assert d.state.gate is Gate.PRE_ROLLOUT
    assert hooks_due(d.state, spec, sim.now, round_due=False) == {HookType.PRE_ROLLOUT}
    sim.hooks = (_answer(sim, HookType.PRE_ROLLOUT, False, 500),)
    d = sim.tick()
    assert (d.state.gate_attempts, d.state.canary_weight) == (1, 0)
    assert "PreRolloutFailed" in sim.reasons(d)
    sim.hooks = ()
    assert hooks_due(d.state, spec, sim.now, round_due=False) == set()  # called again later
    d = sim.tick(advance=INTERVAL)
    assert HookType.PRE_ROLLOUT in hooks_due(d.state, spec, sim.now, round_due=False)
    sim.hooks = (_answer(sim, HookType.PRE_ROLLOUT, False, 500),)
    d = sim.tick()
    assert (d.state.phase, d.state.reason) == (Phase.ROLLED_BACK, "PreRolloutFailed")
    assert sim.weights == []


def test_a_passing_pre_rollout_hook_opens_the_first_step() -> None:
    sim = _started(_spec(hooks=frozenset({HookType.PRE_ROLLOUT})))
    sim.tick()
    sim.hooks = (_answer(sim, HookType.PRE_ROLLOUT, True),)
    d = sim.tick()
    assert (d.state.gate, d.state.canary_weight) == (None, 10)
    assert "PreRolloutPassed" in sim.reasons(d)


def _at_last_step(sim: Sim) -> None:
    sim.tick()  # first step
    sim.round(Verdict.SUCCESSFUL)  # -> step 2
    assert sim.state.step_index == 1


def test_confirm_promotion_holds_until_the_hook_answers_2xx() -> None:
    spec = _spec(hooks=frozenset({HookType.CONFIRM_PROMOTION}))
    sim = _started(spec)
    _at_last_step(sim)
    d = sim.round(Verdict.SUCCESSFUL)
    assert (d.state.gate, d.state.phase) == (Gate.CONFIRM, Phase.PROGRESSING)
    assert d.requeue_after == timedelta(0)  # call the hook now
    for _ in range(3):  # 503: held, analysis goes on, weight stays at the last step
        sim.hooks = (_answer(sim, HookType.CONFIRM_PROMOTION, False, 503),)
        d = sim.round(Verdict.SUCCESSFUL)
        assert d.state.phase is Phase.PROGRESSING
        assert d.state.canary_weight == 50
        assert d.state.reason == "PromotionNotConfirmed"
        assert "h answered 503" in d.state.message
        sim.hooks = ()
    sim.tick(advance=INTERVAL)
    sim.hooks = (_answer(sim, HookType.CONFIRM_PROMOTION, True),)
    d = sim.tick()
    assert d.state.phase is Phase.PROMOTED


def test_a_failing_round_still_rolls_back_while_waiting_for_confirmation() -> None:
    spec = _spec(hooks=frozenset({HookType.CONFIRM_PROMOTION}), failure_threshold=1)
    sim = _started(spec)
    _at_last_step(sim)
    sim.round(Verdict.SUCCESSFUL)
    d = sim.round(Verdict.FAILED)
    assert d.state.phase is Phase.ROLLED_BACK
    assert d.state.gate is None


def test_a_rollback_hook_answering_2xx_rolls_back_at_once() -> None:
    spec = _spec(hooks=frozenset({HookType.ROLLBACK}))
    sim = _started(spec)
    sim.tick()
    assert hooks_due(sim.state, spec, sim.now + INTERVAL, round_due=True) == {HookType.ROLLBACK}
    sim.hooks = (_answer(sim, HookType.ROLLBACK, False, 404),)  # not asked for
    assert sim.tick().state.phase is Phase.PROGRESSING
    sim.hooks = (_answer(sim, HookType.ROLLBACK, True, name="stop"),)
    d = sim.tick()
    assert (d.state.phase, d.state.reason) == (Phase.ROLLED_BACK, "RollbackRequested")
    assert "stop answered 200" in d.state.message


def test_post_rollout_hooks_are_called_once_after_the_end() -> None:
    spec = _spec(hooks=frozenset({HookType.POST_ROLLOUT}))
    sim = _started(spec)
    _at_last_step(sim)
    d = sim.round(Verdict.SUCCESSFUL)
    assert d.state.phase is Phase.PROMOTED
    assert d.state.post_rollout_pending
    assert hooks_due(d.state, spec, sim.now, round_due=False) == {HookType.POST_ROLLOUT}
    assert d.requeue_after == timedelta(0)
    sim.hooks = (_answer(sim, HookType.POST_ROLLOUT, False, 500),)
    d = sim.tick()
    assert not d.state.post_rollout_pending
    assert "PostRolloutFailed" in sim.reasons(d)
    assert d.state.phase is Phase.PROMOTED  # a notification: nothing else changes


@pytest.mark.parametrize(
    ("gate", "last", "round_due", "want"),
    [
        (None, None, False, set()),
        (None, None, True, {HookType.ROLLOUT, HookType.ROLLBACK}),
        (Gate.PRE_ROLLOUT, None, False, {HookType.PRE_ROLLOUT, HookType.ROLLBACK}),
        (Gate.PRE_ROLLOUT, 10, False, set()),  # called 10 s ago: not yet
        (Gate.PRE_ROLLOUT, 30, False, {HookType.PRE_ROLLOUT, HookType.ROLLBACK}),
        (
            Gate.CONFIRM,
            None,
            True,
            {HookType.CONFIRM_PROMOTION, HookType.ROLLOUT, HookType.ROLLBACK},
        ),
        (Gate.ACCEPTANCE, None, False, set()),
    ],
)
def test_which_hooks_are_due(
    gate: Gate | None, last: int | None, round_due: bool, want: set[HookType]
) -> None:
    spec = _spec(hooks=frozenset(HookType))
    sim = _started(spec)
    state = sim.tick().state
    now = sim.now + timedelta(seconds=60)
    called = None if last is None else now - timedelta(seconds=last)
    state = state.model_copy(update={"gate": gate, "last_gate_call_at": called})
    assert hooks_due(state, spec, now, round_due=round_due) == want


# --- truths that take time; replay ---------------------------------------------------------------


def test_the_last_step_holds_until_label_delay_has_passed() -> None:
    delay = timedelta(minutes=3)
    sim = _started(_spec(label_delay=delay))
    _at_last_step(sim)
    started = sim.state.step_started_at
    assert started is not None
    d = sim.round(Verdict.SUCCESSFUL)
    assert d.state.phase is Phase.PROGRESSING
    assert d.state.reason == "WaitingForLabels"
    while sim.now < started + delay - INTERVAL:
        d = sim.round(Verdict.SUCCESSFUL)
        assert d.state.phase is Phase.PROGRESSING
    assert d.requeue_after is not None
    assert d.requeue_after <= INTERVAL
    while d.state.phase is Phase.PROGRESSING:
        d = sim.round(Verdict.SUCCESSFUL)
    assert d.state.phase is Phase.PROMOTED
    assert sim.now >= started + delay


def test_the_first_step_is_not_held_by_label_delay() -> None:
    sim = _started(_spec(label_delay=timedelta(hours=1)))
    sim.tick()
    d = sim.round(Verdict.SUCCESSFUL)
    assert d.state.step_index == 1


def test_replay_runs_only_while_the_canary_gets_mirrored_traffic() -> None:
    spec = RolloutSpec(
        strategy=Strategy.SHADOW, steps=STEPS, analysis_interval=INTERVAL, replay_rps=5.0
    )
    sim = _started(spec)
    d = sim.tick()
    assert (d.state.stage, d.state.replay_rps) == (Stage.SHADOW, 5.0)
    d = sim.round(Verdict.SUCCESSFUL)
    assert (d.state.stage, d.state.replay_rps) == (Stage.STEPS, 0.0)
