"""Hypothesis properties of the rollout state machine over random event sequences."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from canaria_operator.analysis.result import Verdict
from canaria_operator.rollout import (
    CanaryPods,
    CreateCanary,
    ManualAction,
    Observed,
    Phase,
    PromoteCanary,
    RolloutSpec,
    SetTraffic,
    Step,
    Strategy,
    decide,
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
)
events = st.one_of(
    st.tuples(st.just("wait"), st.integers(0, 120)),
    st.tuples(st.just("round"), st.sampled_from(list(Verdict))),
    st.tuples(st.just("pods"), st.integers(0, 3)),
    st.tuples(st.just("action"), st.sampled_from(list(ManualAction))),
    st.tuples(st.just("target"), st.sampled_from(["v1", "v2", "v3"])),
)


def stages(spec: RolloutSpec) -> int:
    return {Strategy.BLUE_GREEN: 1, Strategy.SHADOW: len(spec.steps) + 1}.get(
        spec.strategy, len(spec.steps)
    )


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
        obs = Observed(target_version=sim.target, state=sim.state, canary=sim.pods, action=action)  # type: ignore[arg-type]
        d = decide(obs, spec, analysis, sim.now)
        # deterministic
        assert decide(obs, spec, analysis, sim.now) == d
        # idempotent: re-deciding from the written state with the same inputs changes nothing
        again = decide(
            obs.model_copy(update={"state": d.state, "action": None}), spec, analysis, sim.now
        )
        assert again.state == d.state
        assert again.actions == ()
        # weights stay in 0..100 and only along the configured steps
        for a in d.actions:
            if isinstance(a, SetTraffic):
                assert a.canary_weight in allowed
            if isinstance(a, CreateCanary):
                successes_since_start = 0
        assert d.state.canary_weight in allowed
        # counted like the machine: only rounds it consumed (state.last_analysis_at moved)
        if (
            verdict is Verdict.SUCCESSFUL
            and d.state.last_analysis_at == sim.now
            and sim.state.last_analysis_at != sim.now
        ):
            successes_since_start += 1
        # nothing promotes without the required successful checks (unless a human says so)
        if any(isinstance(a, PromoteCanary) for a in d.actions) and action is not (
            ManualAction.PROMOTE
        ):
            assert successes_since_start >= spec.successful_checks_per_step * stages(spec)
        # a rollback always ends with canary weight 0 and no mirroring
        if d.state.phase is Phase.ROLLED_BACK:
            assert (d.state.canary_weight, d.state.mirror_percent) == (0, 0)
        if d.state.phase not in (Phase.PROGRESSING, Phase.PAUSED):
            assert d.state.canary_weight == 0
        assert d.requeue_after is None or d.requeue_after >= timedelta(0)
        sim.state = d.state
