"""Acceptance verdicts from evaluation figures (table), and how labels compare."""

from __future__ import annotations

import pytest

from canaria_serving.evaluation.result import (
    Evaluation,
    ModelFigures,
    Thresholds,
    judge,
)
from canaria_serving.evaluation.score import Tally, normalise_label


def _clf(canary: float, stable: float | None = None) -> Evaluation:
    return Evaluation(
        task="classification",
        rows=100,
        canary=ModelFigures(rows=100, accuracy=canary),
        stable=None if stable is None else ModelFigures(rows=100, accuracy=stable),
    )


def _reg(mae: float, failed: int = 0) -> Evaluation:
    return Evaluation(
        task="regression", rows=100, canary=ModelFigures(rows=100, mae=mae, failed=failed)
    )


@pytest.mark.parametrize(
    ("ev", "thresholds", "passed", "says"),
    [
        (_clf(0.95), Thresholds(min_accuracy=0.9), True, "canary accuracy 95.00%"),
        (_clf(0.85), Thresholds(min_accuracy=0.9), False, "below minAccuracy 90.00%"),
        (_clf(0.93, 0.95), Thresholds(max_drop_vs_stable=0.02), True, "(stable 95.00%)"),
        (_clf(0.92, 0.95), Thresholds(max_drop_vs_stable=0.02), False, "3.00% below the stable's"),
        (_clf(0.92), Thresholds(max_drop_vs_stable=0.02), False, "stable was not evaluated"),
        (_clf(0.99, 0.5), Thresholds(min_accuracy=0.9, max_drop_vs_stable=0.0), True, ""),
        (_clf(0.5), Thresholds(), True, ""),  # no thresholds: evaluated is enough
        (_reg(0.4), Thresholds(max_error=0.5), True, "canary MAE 0.4"),
        (_reg(0.6), Thresholds(max_error=0.5), False, "above maxError 0.5"),
        (_reg(0.1, failed=1), Thresholds(max_error=0.5), False, "did not answer 1 of 100"),
    ],
)
def test_verdicts(ev: Evaluation, thresholds: Thresholds, passed: bool, says: str) -> None:
    ok, why = judge(ev, thresholds)
    assert ok is passed
    assert says in why


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1"),
        (1.0, "1"),
        ("1", "1"),
        ("1.0", "1"),
        (" setosa ", "setosa"),
        (b"a", "a"),
        (0.5, "0.5"),
    ],
)
def test_labels_compare_as_text(value: object, text: str) -> None:
    assert normalise_label(value) == text


def test_a_failed_batch_counts_wrong_for_a_classifier() -> None:
    t = Tally("classification")
    t.add(["a", "b"], ["a", "a"])
    t.add(["b", "b"], None)
    figures = t.figures()
    assert (figures.rows, figures.failed, figures.accuracy) == (4, 2, 0.25)
    assert t.right_by_class == {"a": 1}
