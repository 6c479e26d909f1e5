"""Statistics of the ground-truth checks (tables, hand-computed), and their calibration: under
the null the tests reject about as often as their significance says."""

from __future__ import annotations

import numpy as np
import pytest

from canaria_operator.analysis.stats import ErrorSums, accuracy_drop_test, mae_ratio_test


@pytest.mark.parametrize(
    ("correct_c", "n_c", "correct_s", "n_s", "margin", "z", "p"),
    [
        # Agresti-Caffo: pc=171/202, ps=191/202, se=sqrt(pc(1-pc)/202+ps(1-ps)/202)=.02997
        (170, 200, 190, 200, 0.02, 2.6365, 0.00419),  # 10 points worse: fails at 95 %
        (190, 200, 190, 200, 0.02, -0.8858, 0.81213),  # as good: far from failing
        (180, 200, 190, 200, 0.02, 1.1026, 0.1351),  # 5 points worse, 200 labels: not shown
        (900, 1000, 950, 1000, 0.02, 2.5391, 0.00556),  # 5 points worse, 1000 labels: shown
        # pc=86/102, ps=96/102, se=.04289, z=.0980/.04289
        (85, 100, 95, 100, 0.0, 2.2859, 0.01113),
        (50, 50, 50, 50, 0.0, 0.0, 0.5),  # both perfect: still a finite test
        (0, 50, 50, 50, 0.02, 34.9577, 0.0),  # never right vs always right
    ],
)
def test_accuracy_drop_test(
    correct_c: int, n_c: int, correct_s: int, n_s: int, margin: float, z: float, p: float
) -> None:
    t = accuracy_drop_test(correct_c, n_c, correct_s, n_s, margin)
    assert t.z == pytest.approx(z, abs=1e-3)
    assert t.p_value == pytest.approx(p, abs=1e-4)
    assert (t.rate_a, t.rate_b) == (correct_c / n_c, correct_s / n_s)


@pytest.mark.parametrize(
    ("abs_c", "sq_c", "n_c", "abs_s", "sq_s", "n_s", "ratio", "z", "p"),
    [
        # MAE 1.5 (var (3-2.25)*100/99) vs 1.0 (var (2-1)*100/99): se=.1407, z=.4/.1407
        (150, 300, 100, 100, 200, 100, 1.1, 2.8428, 0.00224),
        (100, 200, 100, 100, 200, 100, 1.1, -0.6693, 0.74835),  # as good
        (130, 250, 100, 100, 150, 100, 1.1, 1.6729, 0.04717),
    ],
)
def test_mae_ratio_test(
    abs_c: float,
    sq_c: float,
    n_c: int,
    abs_s: float,
    sq_s: float,
    n_s: int,
    ratio: float,
    z: float,
    p: float,
) -> None:
    t = mae_ratio_test(ErrorSums(abs_c, sq_c, n_c), ErrorSums(abs_s, sq_s, n_s), ratio)
    assert t.z == pytest.approx(z, abs=1e-3)
    assert t.p_value == pytest.approx(p, abs=1e-4)
    assert (t.rate_a, t.rate_b) == (abs_c / n_c, abs_s / n_s)


def test_no_spread_lets_the_difference_decide() -> None:
    exact = mae_ratio_test(ErrorSums(20, 40, 10), ErrorSums(10, 10, 10), 1.1)  # 2.0 vs 1.0
    assert exact.p_value == 0.0
    assert mae_ratio_test(ErrorSums(10, 10, 10), ErrorSums(10, 10, 10), 1.1).p_value == 1.0


@pytest.mark.parametrize("bad", [(1, 0, 1, 1, 0.0), (2, 1, 1, 1, 0.0), (-1, 5, 1, 5, 0.0)])
def test_impossible_counts_are_refused(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match=r"observation|between"):
        accuracy_drop_test(*bad)


@pytest.mark.parametrize(("n", "p_stable"), [(200, 0.95), (400, 0.8), (1000, 0.6)])
def test_accuracy_test_is_calibrated_at_the_margin(n: int, p_stable: float) -> None:
    """Canary exactly ``margin`` worse (the null's boundary): rejected about 5 % of the time
    at 95 % confidence (Agresti-Caffo is slightly conservative)."""
    rng = np.random.default_rng(n)
    margin, trials = 0.02, 4000
    stable = rng.binomial(n, p_stable, trials)
    canary = rng.binomial(n, p_stable - margin, trials)
    rejected = sum(
        accuracy_drop_test(c, n, s, n, margin).p_value < 0.05
        for c, s in zip(canary.tolist(), stable.tolist(), strict=True)
    )
    assert 0.02 <= rejected / trials <= 0.07


def test_accuracy_test_finds_a_ten_point_drop_with_a_few_hundred_labels() -> None:
    rng = np.random.default_rng(1)
    n, trials = 300, 1000
    stable, canary = rng.binomial(n, 0.95, trials), rng.binomial(n, 0.85, trials)
    power = sum(
        accuracy_drop_test(c, n, s, n, 0.02).p_value < 0.05
        for c, s in zip(canary.tolist(), stable.tolist(), strict=True)
    )
    assert power / trials > 0.95


def test_mae_test_is_calibrated_at_the_ratio() -> None:
    rng = np.random.default_rng(2)
    n, trials, ratio = 300, 3000, 1.1
    rejected = 0
    for _ in range(trials):
        e_s = np.abs(rng.normal(0, 1.0, n))
        e_c = np.abs(rng.normal(0, ratio, n))  # MAE exactly ratio x the stable's
        t = mae_ratio_test(
            ErrorSums(e_c.sum(), (e_c**2).sum(), n), ErrorSums(e_s.sum(), (e_s**2).sum(), n), ratio
        )
        rejected += t.p_value < 0.05
    assert 0.02 <= rejected / trials <= 0.08
