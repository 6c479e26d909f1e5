"""Table-driven scenarios for the rollout state machine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from canaria_operator.analysis.result import Verdict
from canaria_operator.rollout import (
    CanaryPods,
    HistoryRecord,
    ManualAction,
    PauseCause,
    Phase,
    RolloutInput,
    RolloutSpec,
    Stage,
    Step,
    Strategy,
    decide,
    reasons,
)
from tests.rollout.helpers import Sim

S, F, N, E = Verdict.SUCCESSFUL, Verdict.FAILED, Verdict.INCONCLUSIVE, Verdict.ERROR
SPEC = RolloutSpec(steps=(Step(weight=10), Step(weight=50)), failure_threshold=2)


def started(spec: RolloutSpec = SPEC) -> Sim:
    sim = Sim(spec=spec)
    sim.tick()  # first version becomes stable
    sim.target = "v2"
    sim.tick()
    return sim


def phase_of(sim: Sim) -> Phase:
    return sim.state.phase


def weights(sim: Sim) -> list[int]:
    return sim.weights


@pytest.mark.parametrize(
    ("verdicts", "phase", "reason", "weight_trace"),
    [
        ([S, S], Phase.PROMOTED, reasons.PROMOTED, [10, 50]),
        ([S, N, N, S], Phase.PROMOTED, reasons.PROMOTED, [10, 50]),
        ([N, N, N, N], Phase.PROGRESSING, reasons.WAITING_FOR_ANALYSIS, [10]),
        ([F, F], Phase.ROLLED_BACK, reasons.ANALYSIS_FAILED, [10, 0]),
        ([S, F, F], Phase.ROLLED_BACK, reasons.ANALYSIS_FAILED, [10, 50, 0]),
        ([F, S, F, S], Phase.PROMOTED, reasons.PROMOTED, [10, 50]),
        ([F, N, F], Phase.ROLLED_BACK, reasons.ANALYSIS_FAILED, [10, 0]),
        ([E, E, E], Phase.PAUSED, reasons.ANALYSIS_ERRORING, [10]),
        ([E, E, S, S], Phase.PROMOTED, reasons.PROMOTED, [10, 50]),
    ],
)
def test_canary_rounds(
    verdicts: list[Verdict], phase: Phase, reason: str, weight_trace: list[int]
) -> None:
    sim = started()
    sim.ready()
    for v in verdicts:
        sim.round(v)
    assert phase_of(sim) is phase, sim.state.message
    assert sim.state.reason == reason
    assert weights(sim) == weight_trace
    if phase is Phase.ROLLED_BACK:
        assert sim.state.canary_weight == 0
        assert "consecutive failed checks" in sim.state.message


def test_no_traffic_before_canary_ready_and_deadline_rollback_names_reason() -> None:
    sim = started(SPEC.model_copy(update={"progress_deadline": timedelta(minutes=2)}))
    sim.pods = CanaryPods(desired=1, ready=0, reason="Init:Error: sha256 mismatch")
    d = sim.tick(advance=timedelta(minutes=1))
    assert sim.state.stage is Stage.WAITING
    assert not d.analysis_due
    assert "sha256 mismatch" in sim.state.message
    assert d.requeue_after == timedelta(minutes=1)
    sim.tick(advance=timedelta(minutes=1))
    assert phase_of(sim) is Phase.ROLLED_BACK
    assert sim.state.reason == reasons.PROGRESS_DEADLINE_EXCEEDED
    assert "sha256 mismatch" in sim.state.message
    assert weights(sim) == []  # it never received traffic


def test_crash_loop_after_ready_holds_then_rolls_back() -> None:
    sim = started(SPEC.model_copy(update={"progress_deadline": timedelta(minutes=3)}))
    sim.ready()
    sim.tick()
    sim.pods = CanaryPods(desired=1, ready=0, reason="CrashLoopBackOff")
    for _ in range(8):
        sim.round(S)  # passing checks cannot advance a canary without Ready pods
    assert phase_of(sim) is Phase.ROLLED_BACK
    assert "CrashLoopBackOff" in sim.state.message
    assert weights(sim) == [10, 0]


def test_promotion_swaps_roles_keeps_previous_warm_and_abort_restores_it() -> None:
    spec = SPEC.model_copy(update={"scale_down_delay": timedelta(minutes=5)})
    sim = started(spec)
    sim.ready()
    sim.round(S)
    d = sim.round(S)
    assert [(h.version, h.result) for h in d.history] == [("v2", "Promoted")]
    assert (sim.state.stable_version, sim.state.previous_version) == ("v2", "v1")
    assert sim.state.previous_scale_down_at == sim.now + timedelta(minutes=5)
    d = sim.tick(action=ManualAction.ABORT, advance=timedelta(minutes=1))
    assert [(h.version, h.result, h.reason) for h in d.history] == [
        ("v2", "RolledBack", reasons.ABORTED)
    ]
    assert (sim.state.stable_version, sim.state.phase) == ("v1", Phase.ROLLED_BACK)
    # the demoted v2 stays warm as a weight-0 canary until its scale-down time
    assert (sim.state.canary_version, sim.state.canary_weight) == ("v2", 0)
    assert sim.state.previous_version is None
    # still rolled back on the next reconcile: the spec asks for v2 but v2 was rolled back
    d = sim.tick(advance=timedelta(minutes=5))
    assert sim.state.canary_scale_down_at is None  # its pods go
    assert phase_of(sim) is Phase.ROLLED_BACK


def test_previous_scaled_down_after_delay() -> None:
    sim = started(SPEC.model_copy(update={"successful_checks_per_step": 1}))
    sim.ready()
    sim.round(S)
    sim.round(S)
    d = sim.tick(advance=SPEC.scale_down_delay - timedelta(seconds=1))
    assert (d.events, d.history) == ((), ())
    assert sim.state.previous_version == "v1"
    assert d.requeue_after == timedelta(seconds=1)
    d = sim.tick(advance=timedelta(seconds=1))
    assert (d.events, d.history) == ((), ())
    assert sim.state.previous_version is None
    assert sim.tick(action=ManualAction.ABORT).state.phase is Phase.PROMOTED  # nothing warm


@pytest.mark.parametrize(
    ("action", "phase_before", "expect_phase", "ignored"),
    [
        (ManualAction.PAUSE, Phase.PROGRESSING, Phase.PAUSED, False),
        (ManualAction.RESUME, Phase.PROGRESSING, Phase.PROGRESSING, True),
        (ManualAction.PROMOTE, Phase.PROGRESSING, Phase.PROMOTED, False),
        (ManualAction.ABORT, Phase.PROGRESSING, Phase.ROLLED_BACK, False),
        (ManualAction.RETRY, Phase.PROGRESSING, Phase.PROGRESSING, True),
    ],
)
def test_manual_actions(
    action: ManualAction, phase_before: Phase, expect_phase: Phase, ignored: bool
) -> None:
    sim = started()
    sim.ready()
    sim.tick()
    assert phase_of(sim) is phase_before
    d = sim.tick(action=action)
    assert d.action_consumed
    assert phase_of(sim) is expect_phase
    assert (reasons.ACTION_IGNORED in sim.reasons(d)) is ignored


def test_pause_holds_and_resume_continues_and_failures_still_roll_back() -> None:
    sim = started()
    sim.ready()
    sim.tick(action=ManualAction.PAUSE)
    sim.round(S)
    sim.round(S)
    assert phase_of(sim) is Phase.PAUSED
    assert weights(sim) == [10]
    sim.tick(action=ManualAction.RESUME)
    assert phase_of(sim) is Phase.PROGRESSING
    assert weights(sim) == [10, 50]  # the successes counted while paused let it move on
    sim2 = started()
    sim2.ready()
    sim2.tick(action=ManualAction.PAUSE)
    sim2.round(F)
    sim2.round(F)
    assert phase_of(sim2) is Phase.ROLLED_BACK


def test_promote_refused_without_ready_canary() -> None:
    sim = started()
    d = sim.tick(action=ManualAction.PROMOTE)
    assert phase_of(sim) is Phase.PROGRESSING
    assert d.action_consumed
    assert "no Ready pods" in d.events[-1].message


def test_retry_restarts_from_first_step() -> None:
    sim = started()
    sim.ready()
    sim.round(F)
    sim.round(F)
    assert phase_of(sim) is Phase.ROLLED_BACK
    sim.tick(advance=timedelta(hours=1))  # canary scaled down meanwhile
    d = sim.tick(action=ManualAction.RETRY)
    assert reasons.RETRYING in sim.reasons(d)
    assert sim.state.started_at == sim.now
    assert sim.state.reason in (reasons.RETRYING, reasons.STEP_ADVANCED)
    assert sim.state.canary_weight == 10  # pods still reported Ready
    sim.round(S)
    sim.round(S)
    assert phase_of(sim) is Phase.PROMOTED


def test_step_pause_duration_and_until_resumed() -> None:
    spec = RolloutSpec(
        steps=(
            Step(weight=10, pause=timedelta(minutes=5)),
            Step(weight=50, pause_until_resumed=True),
        )
    )
    sim = started(spec)
    sim.ready()
    sim.round(S)
    assert sim.state.canary_weight == 10
    assert sim.state.reason == reasons.STEP_PAUSE
    sim.tick(advance=timedelta(minutes=5))
    assert sim.state.canary_weight == 50
    sim.round(S)
    assert (sim.state.phase, sim.state.paused_by) == (Phase.PAUSED, PauseCause.STEP)
    sim.tick(action=ManualAction.RESUME)
    assert phase_of(sim) is Phase.PROMOTED


def test_shadow_then_steps() -> None:
    sim = started(SPEC.model_copy(update={"strategy": Strategy.SHADOW, "mirror_percent": 30}))
    sim.ready()
    sim.tick()
    assert (sim.state.stage, sim.state.canary_weight, sim.state.mirror_percent) == (
        Stage.SHADOW,
        0,
        30,
    )
    sim.round(F)
    sim.round(S)
    assert sim.state.stage is Stage.STEPS
    assert sim.state.mirror_percent == 0
    sim.round(S)
    sim.round(S)
    assert phase_of(sim) is Phase.PROMOTED
    assert weights(sim) == [0, 10, 50]


def test_blue_green_full_size_preview_then_swap() -> None:
    sim = started(RolloutSpec(strategy=Strategy.BLUE_GREEN, steps=()))
    sim.pods = CanaryPods(desired=3, ready=2)
    sim.tick()
    assert sim.state.stage is Stage.WAITING  # full size required before preview
    sim.pods = CanaryPods(desired=3, ready=3)
    sim.tick()
    assert (sim.state.stage, sim.state.mirror_percent) == (Stage.PREVIEW, 100)
    d = sim.round(S)
    assert [h.result for h in d.history] == ["Promoted"]
    assert weights(sim) == [0]  # 0 until the swap, then the canary IS stable


def test_new_version_supersedes_running_rollout() -> None:
    sim = started()
    sim.ready()
    sim.tick()
    sim.target = "v3"
    d = sim.tick()
    assert sim.reasons(d)[:2] == [reasons.SUPERSEDED, reasons.ROLLOUT_STARTED]
    assert (sim.state.canary_version, sim.state.started_at) == ("v3", sim.now)
    assert [(h.version, h.result) for h in d.history] == [("v2", "Superseded")]


def test_spec_reverted_to_stable_rolls_back() -> None:
    sim = started()
    sim.ready()
    sim.tick()
    sim.target = "v1"
    sim.tick()
    assert (sim.state.phase, sim.state.reason) == (Phase.ROLLED_BACK, reasons.SPEC_REVERTED)


def test_immediate_replaces_once_the_new_pods_are_ready_and_keeps_the_old_warm() -> None:
    sim = Sim(spec=RolloutSpec(strategy=Strategy.IMMEDIATE))
    sim.tick()
    sim.target = "v2"
    d = sim.tick()
    started_at = sim.now
    # no request may find no pod: v1 serves everything until v2's pods are Ready
    assert (sim.state.stable_version, sim.state.canary_version) == ("v1", "v2")
    assert sim.state.reason == reasons.WAITING_FOR_CANARY
    assert d.history == ()
    assert not d.analysis_due
    sim.ready()
    d = sim.tick(advance=timedelta(seconds=7))
    assert d.history == (
        HistoryRecord(
            version="v2",
            result="Replaced",
            reason=f"{reasons.REPLACED}: v1 replaced by v2",
            started_at=started_at,
            finished_at=sim.now,
        ),
    )
    assert sim.reasons(d) == [reasons.REPLACED]
    assert (sim.state.stable_version, sim.state.previous_version) == ("v2", "v1")
    assert sim.state.previous_scale_down_at == sim.now + sim.spec.scale_down_delay
    assert weights(sim) == []  # never a step: 0 % to 100 % at once


def test_immediate_never_ready_is_rolled_back_at_its_deadline() -> None:
    sim = Sim(spec=RolloutSpec(strategy=Strategy.IMMEDIATE, progress_deadline=timedelta(minutes=1)))
    sim.tick()
    sim.target = "v2"
    sim.pods = CanaryPods(desired=1, ready=0, reason="Init:Error: sha256 mismatch")
    sim.tick()
    sim.tick(advance=timedelta(minutes=1))
    assert phase_of(sim) is Phase.ROLLED_BACK
    assert sim.state.reason == reasons.PROGRESS_DEADLINE_EXCEEDED
    assert sim.state.stable_version == "v1"


def test_old_rounds_are_ignored() -> None:
    sim = started()
    sim.ready()
    sim.round(S)  # now at step 2
    from tests.rollout.helpers import check

    stale = check(F, sim.state.step_started_at)  # type: ignore[arg-type]
    d = decide(
        RolloutInput(target_version="v2", state=sim.state, canary=sim.pods),
        sim.spec,
        [stale],
        sim.now,
    )
    assert d.state == sim.state


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"steps": (Step(weight=50), Step(weight=10))}, "increase"),
        ({"steps": ()}, "at least one step"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"mirror_percent": 101}, "mirror_percent"),
        ({"analysis_interval": timedelta(0)}, "analysisInterval"),
    ],
)
def test_invalid_specs_name_the_field(update: dict[str, object], field: str) -> None:
    data = RolloutSpec().model_dump() | update
    with pytest.raises(ValidationError, match=field):
        RolloutSpec.model_validate(data)


def test_state_round_trips_through_status_json() -> None:
    sim = started()
    sim.ready()
    sim.round(S)
    dumped = sim.state.model_dump(by_alias=True, mode="json")
    assert "canaryWeight" in dumped
    assert type(sim.state).model_validate(dumped) == sim.state
