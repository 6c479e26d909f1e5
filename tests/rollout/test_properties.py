"""Hypothesis properties of the rollout state machine over random event sequences."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from canaria_operator.analysis.result import Verdict
from canaria_operator.rollout import (
    ANALYSED_STAGES,
    CanaryPods,
    ManualAction,
    Phase,
    RolloutInput,
    RolloutSpec,
    Stage,
    Step,
    Strategy,
    decide,
    reasons,
)
from tests.rollout.helpers import Sim, check

weights_st = st.lists(st.integers(1, 100), min_size=1, max_size=4, unique=True).map(sorted)
specs = st.builds(
    RolloutSpec,
    strategy=st.sampled_from(list(Strategy)),
    steps=weights_st.map(lambda ws: tuple(Step(weight=w) for w in ws)),
    analysis_interval=st.sampled_from([timedelta(seconds=10), timedelta(seconds=60)]),
    failure_threshold=st.integers(1, 3),
    successful_checks_per_step=st.integers(1, 3),
    error_threshold=st.integers(1, 3),
    progress_deadline=st.sampled_from([timedelta(seconds=30), timedelta(minutes=5)]),
    scale_down_delay=st.sampled_from([timedelta(0), timedelta(minutes=2)]),
    mirror_percent=st.integers(0, 100),
    max_inconclusive_rounds=st.integers(1, 4),
    judged_stages=st.frozensets(st.sampled_from(sorted(ANALYSED_STAGES))),
)
events = st.one_of(
    st.tuples(st.just("wait"), st.integers(0, 120)),
    st.tuples(st.just("round"), st.sampled_from(list(Verdict))),
    st.tuples(st.just("pods"), st.integers(0, 3)),
    st.tuples(st.just("action"), st.sampled_from(list(ManualAction))),
    st.tuples(st.just("target"), st.sampled_from(["v1", "v2", "v3"])),
)


def judged(spec: RolloutSpec) -> int:
    """Judged stages a rollout passes through before promotion."""
    steps = len(spec.steps) if Stage.STEPS in spec.judged_stages else 0
    return {
        Strategy.BLUE_GREEN: int(Stage.PREVIEW in spec.judged_stages),
        Strategy.SHADOW: steps + int(Stage.SHADOW in spec.judged_stages),
    }.get(spec.strategy, steps)


@settings(max_examples=400, deadline=None)
@given(spec=specs, seq=st.lists(events, max_size=60))
def test_invariants(spec: RolloutSpec, seq: list[tuple[str, object]]) -> None:
    sim = Sim(spec=spec)
    allowed = {0} | {s.weight for s in spec.steps}
    successes_since_start = 0
    for kind, arg in seq:
        action = None
        verdict = None
        if kind == "wait":
            sim.now += timedelta(seconds=int(arg))  # type: ignore[call-overload]
        elif kind == "round":
            verdict = arg
        elif kind == "pods":
            n = int(arg)  # type: ignore[call-overload]
            sim.pods = CanaryPods(desired=3, ready=n, reason=None if n else "CrashLoopBackOff")
        elif kind == "action":
            action = arg
        else:
            sim.target = str(arg)
        analysis = [check(verdict, sim.now)] if isinstance(verdict, Verdict) else []
        inputs = RolloutInput(
            target_version=sim.target,
            state=sim.state,
            canary=sim.pods,
            action=action,  # type: ignore[arg-type]
        )
        d = decide(inputs, spec, analysis, sim.now)
        # deterministic
        assert decide(inputs, spec, analysis, sim.now) == d
        # idempotent: re-deciding from the written state with the same inputs changes nothing
        again = decide(
            inputs.model_copy(update={"state": d.state, "action": None}), spec, analysis, sim.now
        )
        assert again.state == d.state
        assert (again.events, again.history) == ((), ())
        # an action is always consumed (handled or refused), never left behind
        assert d.action_consumed is (action is not None)
        # weights stay in 0..100 and only along the configured steps
        if {reasons.ROLLOUT_STARTED, reasons.RETRYING} & {e.reason for e in d.events}:
            successes_since_start = 0
        assert d.state.canary_weight in allowed
        # counted like the machine: only rounds it consumed (state.last_analysis_at moved)
        if (
            verdict is Verdict.SUCCESSFUL
            and d.state.last_analysis_at == sim.now
            and sim.state.last_analysis_at != sim.now
        ):
            successes_since_start += 1
        # nothing promotes without the required successful checks of every judged stage
        # (unless a human says so)
        promoted = any(h.result == "Promoted" for h in d.history)
        if promoted and action is not ManualAction.PROMOTE:
            assert successes_since_start >= spec.successful_checks_per_step * judged(spec)
        # no round is ever due in a stage no check can judge
        if d.analysis_due:
            assert d.state.stage in spec.judged_stages
        # undecided rounds are bounded: at the limit the rollout does not progress
        if d.state.consecutive_inconclusive >= spec.max_inconclusive_rounds:
            assert d.state.phase is not Phase.PROGRESSING
        # a rollback always ends with canary weight 0 and no mirroring
        if d.state.phase is Phase.ROLLED_BACK:
            assert (d.state.canary_weight, d.state.mirror_percent) == (0, 0)
        if d.state.phase not in (Phase.PROGRESSING, Phase.PAUSED):
            assert d.state.canary_weight == 0
        assert d.requeue_after is None or d.requeue_after >= timedelta(0)
        sim.state = d.state


@settings(max_examples=200, deadline=None)
@given(spec=specs, verdicts=st.lists(st.sampled_from(list(Verdict)), max_size=30))
def test_undecided_rounds_are_bounded(spec: RolloutSpec, verdicts: list[Verdict]) -> None:
    """Round after round (each when due), a rollout never progresses past
    maxInconclusiveRounds rounds without a verdict, and no round is due where nothing
    judges."""
    sim = Sim(spec=spec)
    sim.tick()
    sim.target = "v2"
    sim.pods = CanaryPods(desired=1, ready=1)
    sim.tick()
    assume(spec.strategy is not Strategy.IMMEDIATE)  # no rollout, nothing to judge
    assert sim.state.phase is Phase.PROGRESSING
    for verdict in verdicts:
        if sim.state.phase is not Phase.PROGRESSING:
            break
        if sim.state.stage not in spec.judged_stages:
            sim.tick(advance=spec.analysis_interval)
            continue
        sim.round(verdict)
        s = sim.state
        if s.consecutive_inconclusive >= spec.max_inconclusive_rounds:
            assert s.phase is not Phase.PROGRESSING
        if s.phase is Phase.PAUSED:  # the pause's reason stays in status while it holds
            want = {reasons.ANALYSIS_INCONCLUSIVE, reasons.ANALYSIS_ERRORING}
            assert s.reason in want, s.reason
            for _ in range(3):
                sim.round(Verdict.INCONCLUSIVE)
                assert sim.state.reason in want
