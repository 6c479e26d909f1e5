"""Rollouts that get no verdict: maxInconclusiveRounds pauses them with a reason; a stage that
no check can judge is passed on time alone and says so. Never stuck silently."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canaria_operator.analysis.result import Verdict
from canaria_operator.rollout import (
    ANALYSED_STAGES,
    CanaryPods,
    ManualAction,
    PauseCause,
    Phase,
    RolloutSpec,
    Stage,
    Step,
    Strategy,
    reasons,
)
from tests.rollout.helpers import Sim

S, F, N, E = Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.INCONCLUSIVE, Verdict.ERROR
INTERVAL = timedelta(seconds=30)
SPEC = RolloutSpec(
    steps=(Step(weight=10), Step(weight=50)), analysis_interval=INTERVAL, max_inconclusive_rounds=3
)


def started(spec: RolloutSpec = SPEC) -> Sim:
    sim = Sim(spec=spec)
    sim.tick()
    sim.target = "v2"
    sim.tick()
    sim.ready()
    sim.tick()
    return sim


@pytest.mark.parametrize(
    ("verdicts", "phase", "undecided"),
    [
        ([N, N], Phase.PROGRESSING, 2),
        ([N, N, N], Phase.PAUSED, 3),
        ([N, N, S, N, N], Phase.PROGRESSING, 2),  # a verdict resets the count...
        ([N, F, N, N], Phase.PROGRESSING, 2),
        ([N, E, N, N], Phase.PAUSED, 3),  # ...an Error is no verdict: it does not
    ],
)
def test_inconclusive_rounds_pause_at_the_limit(
    verdicts: list[Verdict], phase: Phase, undecided: int
) -> None:
    sim = started()
    for v in verdicts:
        sim.round(v)
    assert sim.state.phase is phase, sim.state.message
    assert sim.state.consecutive_inconclusive == undecided
    if phase is Phase.PAUSED:
        assert sim.state.paused_by is PauseCause.INCONCLUSIVE
        assert sim.state.reason == reasons.ANALYSIS_INCONCLUSIVE
        assert "3 inconclusive rounds (maxInconclusiveRounds 3)" in sim.state.message
        warning = sim.events[-1]
        assert (warning.type, warning.reason) == ("Warning", reasons.ANALYSIS_INCONCLUSIVE)
        assert sim.state.canary_weight == 10  # held where it was: no promotion, no rollback
    else:
        assert f"inconclusive {undecided}/3" in sim.state.message


def test_resume_waits_another_round_of_rounds_and_a_verdict_still_decides() -> None:
    sim = started()
    for _ in range(3):
        sim.round(N)
    assert sim.state.phase is Phase.PAUSED
    sim.round(N)  # while paused: counted, still paused, no second Warning
    assert [e.reason for e in sim.events].count(reasons.ANALYSIS_INCONCLUSIVE) == 1
    sim.tick(action=ManualAction.RESUME)
    assert (sim.state.phase, sim.state.consecutive_inconclusive) == (Phase.PROGRESSING, 0)
    sim.round(N)
    sim.round(S)
    sim.round(S)
    assert sim.state.phase is Phase.PROMOTED
    assert sim.history[-1].result == "Promoted"


def test_no_checks_promotes_by_steps_and_pauses_alone_and_says_so() -> None:
    spec = SPEC.model_copy(
        update={
            "judged_stages": frozenset(),
            "steps": (Step(weight=10), Step(weight=50, pause=timedelta(minutes=2))),
        }
    )
    sim = started(spec)
    d = sim.decisions[-1]
    assert (sim.state.stage, sim.state.canary_weight) == (Stage.STEPS, 10)
    assert sim.state.reason == reasons.NOT_JUDGED
    assert "no checks measure step 1/2 (10%)" in sim.state.message
    assert not d.analysis_due
    assert d.requeue_after == INTERVAL  # one analysis interval at the step, then on
    sim.tick(advance=INTERVAL - timedelta(seconds=1))
    assert sim.state.canary_weight == 10
    d = sim.tick(advance=timedelta(seconds=1))
    assert sim.state.canary_weight == 50
    assert not d.analysis_due
    sim.tick(advance=INTERVAL)
    assert (sim.state.canary_weight, sim.state.reason) == (50, reasons.STEP_PAUSE)  # 2m pause
    sim.tick(advance=timedelta(minutes=2) - INTERVAL)
    assert sim.state.phase is Phase.PROMOTED
    assert weights_and_successes(sim) == ([10, 50], 0)
    assert not any(d.analysis_due for d in sim.decisions)


def weights_and_successes(sim: Sim) -> tuple[list[int], int]:
    return sim.weights, sim.state.successes


def test_an_unjudged_step_holds_while_the_canary_is_not_ready() -> None:
    sim = started(SPEC.model_copy(update={"judged_stages": frozenset()}))
    sim.pods = CanaryPods(desired=1, ready=0, reason="CrashLoopBackOff")
    sim.tick(advance=INTERVAL * 4)
    assert (sim.state.phase, sim.state.canary_weight) == (Phase.PROGRESSING, 10)


def test_pause_until_resumed_holds_an_unjudged_step() -> None:
    spec = SPEC.model_copy(
        update={"judged_stages": frozenset(), "steps": (Step(weight=10, pause_until_resumed=True),)}
    )
    sim = started(spec)
    sim.tick(advance=INTERVAL)
    assert (sim.state.phase, sim.state.paused_by) == (Phase.PAUSED, PauseCause.STEP)
    sim.tick(action=ManualAction.RESUME)
    assert sim.state.phase is Phase.PROMOTED


def test_shadow_judged_only_while_mirrored_then_steps_on_time() -> None:
    """Only shadow agreement set: the Shadow stage is judged, the steps are not."""
    spec = SPEC.model_copy(
        update={"strategy": Strategy.SHADOW, "judged_stages": frozenset({Stage.SHADOW})}
    )
    sim = started(spec)
    assert sim.state.stage is Stage.SHADOW
    assert sim.decisions[-1].requeue_after == INTERVAL
    sim.tick(advance=INTERVAL * 3)
    assert sim.state.stage is Stage.SHADOW  # judged: waits for its verdict, not for time
    sim.round(S)
    assert (sim.state.stage, sim.state.reason) == (Stage.STEPS, reasons.NOT_JUDGED)
    sim.tick(advance=INTERVAL)
    sim.tick(advance=INTERVAL)
    assert sim.state.phase is Phase.PROMOTED


def test_blue_green_preview_that_nothing_reaches_switches_on_readiness_and_time() -> None:
    """Traffic mode Replicas cannot mirror: the full-size preview is not judged."""
    spec = RolloutSpec(
        strategy=Strategy.BLUE_GREEN,
        steps=(),
        analysis_interval=INTERVAL,
        mirror_percent=0,
        judged_stages=frozenset({Stage.STEPS}),
    )
    sim = Sim(spec=spec)
    sim.tick()
    sim.target = "v2"
    sim.pods = CanaryPods(desired=3, ready=2)
    sim.tick()
    assert sim.state.stage is Stage.WAITING  # full size required first
    sim.ready(3)
    sim.tick()
    assert (sim.state.stage, sim.state.mirror_percent) == (Stage.PREVIEW, 0)
    assert sim.state.reason == reasons.NOT_JUDGED
    sim.tick(advance=INTERVAL)
    assert sim.state.phase is Phase.PROMOTED
    assert sim.weights == []  # never a weight, never a mirror: switched 0 -> 100


def test_default_judges_every_analysed_stage() -> None:
    assert RolloutSpec().judged_stages == ANALYSED_STAGES
    assert RolloutSpec().max_inconclusive_rounds == 20
