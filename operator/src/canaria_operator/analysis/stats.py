"""Statistics of canary analysis (pure).

Error rates: each request either fails (5xx) or not, so over one window the canary's and the
stable's error counts are binomial. ``two_proportion_z`` is the pooled two-proportion z-test,
one-sided (H1: the canary's error proportion is higher). A fixed threshold alone either misses
a canary that doubles a small error rate or fails canaries on noise at low traffic; the test
asks "is the difference larger than chance at this sample size?" and is combined with a minimum
effect size so that huge traffic does not make a 0.01 % difference "significant".

Prediction drift: the Population Stability Index between two distributions of counts (classes
or histogram buckets): PSI = sum((a_i - e_i) * ln(a_i / e_i)) over proportions, with a small
epsilon for empty bins. Rule of thumb: < 0.1 same, 0.1-0.25 moderate shift, > 0.25 major.
PSI from small samples is noisy (about (k-1)(1/n_a + 1/n_b) from chance alone), so a drift
verdict also asks ``chi_square_homogeneity``: are the two count vectors from different
distributions beyond chance? (p-value by the Wilson-Hilferty normal approximation of the
chi-square distribution: good to a few percent in the tail, no SciPy.)

Ground truth (feedback): canary and stable accuracy on labelled requests of the same window
are binomial too; ``accuracy_drop_test`` asks whether the canary is worse than the stable by
more than the allowed drop (a one-sided two-proportion test with a margin). Regressors:
``mae_ratio_test`` asks whether the canary's mean absolute error exceeds the allowed multiple
of the stable's, from the sums of |error| and error^2 the serving pods export.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

__all__ = [
    "ErrorSums",
    "ZTest",
    "accuracy_drop_test",
    "bucket_counts",
    "mae_ratio_test",
    "normal_sf",
    "psi",
    "two_proportion_z",
]


class ZTest:
    """Result of a one-sided two-proportion z-test."""

    __slots__ = ("p_value", "rate_a", "rate_b", "z")

    def __init__(self, z: float, p_value: float, rate_a: float, rate_b: float) -> None:
        self.z, self.p_value, self.rate_a, self.rate_b = z, p_value, rate_a, rate_b

    def __repr__(self) -> str:
        return (
            f"ZTest(z={self.z:.3f}, p={self.p_value:.4g}, a={self.rate_a:.4g}, b={self.rate_b:.4g})"
        )


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_z(fail_a: float, n_a: float, fail_b: float, n_b: float) -> ZTest:
    """One-sided pooled z-test that proportion a (canary) exceeds proportion b (stable)."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("both samples need at least one observation")
    if not (0 <= fail_a <= n_a and 0 <= fail_b <= n_b):
        raise ValueError("failures must be between 0 and the sample size")
    pa, pb = fail_a / n_a, fail_b / n_b
    pooled = (fail_a + fail_b) / (n_a + n_b)
    var = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if var <= 0.0:  # no failures at all (or only failures): no evidence either way
        return ZTest(0.0, 0.5 if pa == pb else (0.0 if pa > pb else 1.0), pa, pb)
    z = (pa - pb) / math.sqrt(var)
    return ZTest(z, normal_sf(z), pa, pb)


def psi(expected: Mapping[str, float], actual: Mapping[str, float], eps: float = 1e-4) -> float:
    """Population Stability Index of ``actual`` (canary) against ``expected`` (stable)."""
    keys = sorted(set(expected) | set(actual))
    te = sum(max(v, 0.0) for v in expected.values())
    ta = sum(max(v, 0.0) for v in actual.values())
    if te <= 0 or ta <= 0:
        raise ValueError("both distributions need positive counts")
    total = 0.0
    for k in keys:
        e = max(max(expected.get(k, 0.0), 0.0) / te, eps)
        a = max(max(actual.get(k, 0.0), 0.0) / ta, eps)
        total += (a - e) * math.log(a / e)
    return total


def bucket_counts(cumulative: Mapping[str, float]) -> dict[str, float]:
    """Per-bucket counts from Prometheus' cumulative ``le`` buckets ({"0.5": 3, "+Inf": 9})."""
    items: Sequence[tuple[float, str, float]] = sorted(
        (float(le), le, v) for le, v in cumulative.items()
    )
    out: dict[str, float] = {}
    prev = 0.0
    for _, le, value in items:
        out[le] = max(value - prev, 0.0)  # counter resets inside the window can go negative
        prev = max(value, prev)
    return out


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for X ~ chi-square(df), Wilson-Hilferty approximation."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if x <= 0:
        return 1.0
    k = float(df)
    z = ((x / k) ** (1.0 / 3.0) - (1.0 - 2.0 / (9.0 * k))) / math.sqrt(2.0 / (9.0 * k))
    return normal_sf(z)


def chi_square_homogeneity(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, float]:
    """(statistic, p-value) of the chi-square test that two count vectors (same categories)
    come from one distribution. Categories empty in both are ignored; one category: p = 1."""
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k, 0.0) + b.get(k, 0.0) > 0]
    na = sum(max(a.get(k, 0.0), 0.0) for k in keys)
    nb = sum(max(b.get(k, 0.0), 0.0) for k in keys)
    if len(keys) < 2 or na <= 0 or nb <= 0:
        return 0.0, 1.0
    total = na + nb
    stat = 0.0
    for k in keys:
        col = max(a.get(k, 0.0), 0.0) + max(b.get(k, 0.0), 0.0)
        for n, observed in ((na, a.get(k, 0.0)), (nb, b.get(k, 0.0))):
            expected = n * col / total
            stat += (max(observed, 0.0) - expected) ** 2 / expected
    return stat, chi2_sf(stat, len(keys) - 1)


def accuracy_drop_test(
    correct_a: float, n_a: float, correct_b: float, n_b: float, margin: float
) -> ZTest:
    """One-sided test that accuracy a (canary) is more than ``margin`` below accuracy b
    (stable): H0 p_b - p_a <= margin, H1 p_b - p_a > margin. With a margin the pooled
    variance of the plain test does not apply; the unpooled one is used, on Agresti-Caffo
    adjusted proportions (one success and one failure added to each side), which keeps it
    honest at 0 % or 100 % accuracy and small samples. ``rate_a``/``rate_b`` are the plain
    accuracies."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError("both samples need at least one observation")
    if not (0 <= correct_a <= n_a and 0 <= correct_b <= n_b):
        raise ValueError("correct counts must be between 0 and the sample size")
    pa, pb = (correct_a + 1) / (n_a + 2), (correct_b + 1) / (n_b + 2)
    se = math.sqrt(pa * (1 - pa) / (n_a + 2) + pb * (1 - pb) / (n_b + 2))
    z = ((pb - pa) - margin) / se
    return ZTest(z, normal_sf(z), correct_a / n_a, correct_b / n_b)


class ErrorSums(NamedTuple):
    """A regressor's labelled rows: sums of |error| and error^2, and how many."""

    abs: float
    squared: float
    n: float


def mae_ratio_test(a: ErrorSums, b: ErrorSums, ratio: float) -> ZTest:
    """One-sided test that the mean absolute error of a (canary) exceeds ``ratio`` times b's
    (stable): H1 MAE_a > ratio * MAE_b. Sums of |e| and e^2 are what Prometheus has; they give
    each side's mean and variance of |e| (var = E[e^2] - E[|e|]^2, with Bessel's correction),
    so the difference MAE_a - ratio * MAE_b has a normal approximation (Welch). ``rate_a`` /
    ``rate_b`` are the two MAEs. No spread at all: the difference decides."""
    if a.n <= 0 or b.n <= 0:
        raise ValueError("both samples need at least one observation")
    mae_a, mae_b = a.abs / a.n, b.abs / b.n

    def var(squared: float, mae: float, n: float) -> float:
        if n < 2:
            return 0.0
        return max(squared / n - mae * mae, 0.0) * n / (n - 1)

    se = math.sqrt(var(a.squared, mae_a, a.n) / a.n + ratio**2 * var(b.squared, mae_b, b.n) / b.n)
    diff = mae_a - ratio * mae_b
    if se <= 0.0:
        return ZTest(0.0, 0.0 if diff > 0 else 1.0, mae_a, mae_b)
    z = diff / se
    return ZTest(z, normal_sf(z), mae_a, mae_b)
