"""The ground-truth checks' verdicts from fixed query answers: both versions over the same
(truth) window, never a pass on too few labels, a significant drop fails, a drop within
chance waits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canaria_operator.analysis import AnalysisConfig, Verdict, planned_checks, run_analysis
from canaria_operator.analysis import queries as q
from canaria_serving import contract as c
from tests.analysis.test_checks import AT, CANARY, STABLE, Answers, W

TRUTH_W = timedelta(minutes=5)
ACC = AnalysisConfig(
    max_error_rate=None,
    error_rate_alpha=None,
    max_latency_ratio=None,
    accuracy_max_drop=0.02,
    accuracy_min_labels=200,
)
MAE = ACC.model_copy(update={"accuracy_max_drop": None, "error_max_ratio": 1.1})


def labels(n_c: float, ok_c: float, n_s: float, ok_s: float) -> dict[str, float | None]:
    return {
        q.feedback_query(c.M_FEEDBACK_LABELLED, CANARY, TRUTH_W): n_c,
        q.feedback_query(c.M_FEEDBACK_CORRECT, CANARY, TRUTH_W): ok_c,
        q.feedback_query(c.M_FEEDBACK_LABELLED, STABLE, TRUTH_W): n_s,
        q.feedback_query(c.M_FEEDBACK_CORRECT, STABLE, TRUTH_W): ok_s,
    }


def errors(
    n_c: float, abs_c: float, sq_c: float, n_s: float, abs_s: float, sq_s: float
) -> dict[str, float | None]:
    out = {}
    for t, (n, a, s) in ((CANARY, (n_c, abs_c, sq_c)), (STABLE, (n_s, abs_s, sq_s))):
        out[q.feedback_query(c.M_FEEDBACK_LABELLED, t, TRUTH_W)] = n
        out[q.feedback_query(c.M_FEEDBACK_ABS_ERROR, t, TRUTH_W)] = a
        out[q.feedback_query(c.M_FEEDBACK_SQUARED_ERROR, t, TRUTH_W)] = s
    return out


async def _run(config: AnalysisConfig, answers: Answers) -> list:
    return await run_analysis(
        answers, config, CANARY, STABLE, window=W, at=AT, truth_window=TRUTH_W
    )


@pytest.mark.parametrize(
    ("answers", "verdict", "says"),
    [
        (labels(150, 140, 900, 850), Verdict.INCONCLUSIVE, "only 150 labelled canary"),
        (labels(400, 380, 150, 140), Verdict.INCONCLUSIVE, "and 150 stable"),
        ({}, Verdict.INCONCLUSIVE, "only 0 labelled canary"),  # feedback never arrived
        (labels(300, 255, 300, 285), Verdict.FAILED, "85.0% vs stable 95.0%"),  # 10 points
        (labels(300, 285, 300, 285), Verdict.SUCCESSFUL, "95.0% vs stable 95.0%"),
        (labels(300, 291, 300, 285), Verdict.SUCCESSFUL, "97.0%"),  # better
        (labels(200, 184, 200, 190), Verdict.INCONCLUSIVE, "waiting for labels"),  # 3 points
    ],
)
async def test_accuracy_verdicts(
    answers: dict[str, float | None], verdict: Verdict, says: str
) -> None:
    provider = Answers(answers)
    (result,) = await _run(ACC, provider)
    assert result.metric == "accuracy"
    assert result.verdict is verdict, result.message
    assert says in result.message
    assert all(f"[{q.duration(TRUTH_W)}]" in promql for promql in provider.asked)


async def test_accuracy_reports_both_versions_and_the_lowest_acceptable() -> None:
    (result,) = await _run(ACC, Answers(labels(300, 255, 300, 285)))
    assert (result.value, result.stable_value, result.samples) == (0.85, 0.95, 300)
    assert result.threshold == pytest.approx(0.93)


@pytest.mark.parametrize(
    ("answers", "verdict"),
    [
        (errors(300, 450, 900, 300, 300, 600), Verdict.FAILED),  # MAE 1.5 vs 1.0
        (errors(300, 300, 600, 300, 300, 600), Verdict.SUCCESSFUL),  # as good
        (errors(100, 150, 450, 300, 300, 600), Verdict.INCONCLUSIVE),  # too few
    ],
)
async def test_error_verdicts(answers: dict[str, float | None], verdict: Verdict) -> None:
    (result,) = await _run(MAE.model_copy(update={"error_min_labels": 200}), Answers(answers))
    assert result.metric == "error"
    assert result.verdict is verdict, result.message


def test_the_ground_truth_checks_are_planned_when_asked() -> None:
    assert planned_checks(ACC) == ("accuracy",)
    assert planned_checks(MAE) == ("error",)
    assert "accuracy" not in planned_checks(AnalysisConfig())


async def test_a_check_for_the_other_kind_of_model_is_inconclusive() -> None:
    only_labels = {
        q.feedback_query(c.M_FEEDBACK_LABELLED, CANARY, TRUTH_W): 300.0,
        q.feedback_query(c.M_FEEDBACK_LABELLED, STABLE, TRUTH_W): 300.0,
    }
    (accuracy,) = await _run(ACC, Answers(only_labels))  # a regressor: no correct counts
    assert accuracy.verdict is Verdict.INCONCLUSIVE
    assert "is the model a classifier" in accuracy.message
    (error,) = await _run(MAE, Answers(only_labels))  # a classifier: no error sums
    assert error.verdict is Verdict.INCONCLUSIVE
    assert "is the model a regressor" in error.message
