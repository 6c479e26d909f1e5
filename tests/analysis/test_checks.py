"""Verdict logic of the checks, fed with fixed query answers (pure: no HTTP involved)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from canaria_operator.analysis import (
    AnalysisConfig,
    CustomMetric,
    ProviderUnavailable,
    QueryError,
    Target,
    Verdict,
    planned_checks,
    run_analysis,
)
from canaria_operator.analysis import queries as q

AT = datetime(2026, 1, 1, tzinfo=UTC)
W = timedelta(seconds=30)
CANARY = Target(name="iris", version="v2", track="canary")
STABLE = Target(name="iris", version="v1", track="stable")
ONLY_ERRORS = AnalysisConfig(max_error_rate=0.05, error_rate_alpha=0.01, max_latency_ratio=None)


class Answers:
    """A MetricsProvider answering from a table keyed by the exact PromQL."""

    def __init__(
        self,
        scalars: Mapping[str, float | None] | None = None,
        vectors: Mapping[str, Mapping[str, float] | None] | None = None,
        fail: Exception | None = None,
    ) -> None:
        self.scalars, self.vectors, self.fail = scalars or {}, vectors or {}, fail
        self.asked: list[str] = []

    async def query(self, promql: str) -> float | None:
        self.asked.append(promql)
        if self.fail:
            raise self.fail
        return self.scalars.get(promql)

    async def query_vector(self, promql: str, label: str) -> dict[str, float] | None:
        self.asked.append(promql)
        if self.fail:
            raise self.fail
        found = self.vectors.get(promql)
        return None if found is None else dict(found)


def traffic(n_c: float, e_c: float, n_s: float, e_s: float) -> dict[str, float | None]:
    return {
        q.requests_query(CANARY, W): n_c,
        q.errors_query(CANARY, W): e_c,
        q.requests_query(STABLE, W): n_s,
        q.errors_query(STABLE, W): e_s,
    }


async def one(provider: Answers, cfg: AnalysisConfig, mirroring: bool = False):  # type: ignore[no-untyped-def]
    results = await run_analysis(
        provider, cfg, CANARY, STABLE, window=W, at=AT, mirroring=mirroring
    )
    assert len(results) == 1, results
    assert results[0].at == AT
    return results[0]


@pytest.mark.parametrize(
    ("counts", "verdict", "fragment"),
    [
        ((1000, 5, 9000, 40), Verdict.SUCCESSFUL, "0.50%"),
        ((10, 5, 9000, 40), Verdict.INCONCLUSIVE, "only 10 canary requests"),
        ((None, None, None, None), Verdict.INCONCLUSIVE, "only 0 canary requests"),
        ((1000, 80, 9000, 40), Verdict.FAILED, "above 5.00%"),
        # 3% vs 0.4%: under the absolute bound, but significantly worse than stable
        ((1000, 30, 9000, 36), Verdict.FAILED, "significantly above stable"),
        # 1.2% vs 1.0% on little traffic: not significant
        ((500, 6, 5000, 50), Verdict.SUCCESSFUL, "vs stable 1.00%"),
        # stable without traffic: only the absolute bound applies
        ((1000, 30, 0, 0), Verdict.SUCCESSFUL, "3.00%"),
    ],
)
async def test_error_rate(
    counts: tuple[float | None, ...], verdict: Verdict, fragment: str
) -> None:
    r = await one(Answers(traffic(*counts)), ONLY_ERRORS)  # type: ignore[arg-type]
    assert r.verdict is verdict, r.message
    assert fragment in r.message
    assert r.metric == "error-rate"


async def test_unreachable_is_inconclusive_and_rejected_query_is_error() -> None:
    r = await one(Answers(fail=ProviderUnavailable("prometheus down")), ONLY_ERRORS)
    assert (r.verdict, r.message) == (Verdict.INCONCLUSIVE, "prometheus down")
    r = await one(Answers(fail=QueryError("bad_data: parse error")), ONLY_ERRORS)
    assert r.verdict is Verdict.ERROR


LAT = AnalysisConfig(
    max_error_rate=None,
    error_rate_alpha=None,
    max_prediction_psi=None,
    min_shadow_agreement=None,
    max_latency_p99=0.1,
    max_latency_ratio=1.5,
)


@pytest.mark.parametrize(
    ("p_c", "p_s", "verdict"),
    [
        (0.004, 0.003, Verdict.SUCCESSFUL),  # 1.33x but within the 5 ms minimum delta
        (0.030, 0.010, Verdict.FAILED),  # 3x stable
        (0.200, 0.190, Verdict.FAILED),  # absolute bound
        (0.012, None, Verdict.SUCCESSFUL),  # no stable data: absolute only
        (None, 0.01, Verdict.INCONCLUSIVE),
    ],
)
async def test_latency(p_c: float | None, p_s: float | None, verdict: Verdict) -> None:
    answers = traffic(1000, 0, 1000, 0) | {
        q.latency_quantile_query(CANARY, W): p_c,
        q.latency_quantile_query(STABLE, W): p_s,
    }
    r = await one(Answers(answers), LAT)
    assert r.verdict is verdict, r.message


DRIFT = AnalysisConfig(
    max_error_rate=None,
    error_rate_alpha=None,
    max_latency_ratio=None,
    min_shadow_agreement=None,
    max_prediction_psi=0.2,
    min_requests=100,
)


@pytest.mark.parametrize(
    ("canary", "stable", "verdict"),
    [
        ({"0": 330, "1": 340, "2": 330}, {"0": 3300, "1": 3350, "2": 3350}, Verdict.SUCCESSFUL),
        ({"0": 900, "1": 50, "2": 50}, {"0": 3300, "1": 3350, "2": 3350}, Verdict.FAILED),
        ({"0": 30, "1": 20}, {"0": 3300, "1": 3350}, Verdict.INCONCLUSIVE),
        (None, None, Verdict.INCONCLUSIVE),
    ],
)
async def test_prediction_drift_classes(
    canary: dict[str, float] | None, stable: dict[str, float] | None, verdict: Verdict
) -> None:
    vectors = {
        q.prediction_classes_query(CANARY, W): canary,
        q.prediction_classes_query(STABLE, W): stable,
    }
    r = await one(Answers(vectors=vectors), DRIFT)
    assert r.verdict is verdict, r.message


async def test_prediction_drift_regressor_buckets() -> None:
    same = {"1": 100.0, "3": 400.0, "+Inf": 500.0}
    shifted = {"1": 400.0, "3": 450.0, "+Inf": 500.0}
    for canary, verdict in ((same, Verdict.SUCCESSFUL), (shifted, Verdict.FAILED)):
        vectors = {
            q.prediction_buckets_query(CANARY, W): canary,
            q.prediction_buckets_query(STABLE, W): same,
        }
        r = await one(Answers(vectors=vectors), DRIFT)
        assert r.verdict is verdict, r.message
        assert "histogram" in r.message


SHADOW = AnalysisConfig(
    max_error_rate=None,
    error_rate_alpha=None,
    max_latency_ratio=None,
    max_prediction_psi=None,
    min_shadow_agreement=0.95,
)


@pytest.mark.parametrize(
    ("counts", "verdict"),
    [
        ({"agree": 990, "disagree": 10}, Verdict.SUCCESSFUL),
        ({"agree": 600, "disagree": 400}, Verdict.FAILED),
        ({"agree": 900, "error": 100}, Verdict.FAILED),
        ({"agree": 10}, Verdict.INCONCLUSIVE),
    ],
)
async def test_shadow_agreement(counts: dict[str, float], verdict: Verdict) -> None:
    vectors = {q.shadow_query("iris", None, W): counts}
    r = await one(Answers(vectors=vectors), SHADOW, mirroring=True)
    assert r.verdict is verdict, r.message
    assert await run_analysis(Answers(), SHADOW, CANARY, STABLE, window=W, at=AT) == []


async def test_custom_metric_bounds_and_template_errors() -> None:
    base = {
        "max_error_rate": None,
        "error_rate_alpha": None,
        "max_latency_ratio": None,
        "min_requests": 0,
    }
    metric = CustomMetric(name="queue", query='max(q{version="{{version}}"})', max=5)
    promql = 'max(q{version="v2"})'
    for value, verdict in (
        (3.0, Verdict.SUCCESSFUL),
        (7.0, Verdict.FAILED),
        (None, Verdict.INCONCLUSIVE),
    ):
        cfg = AnalysisConfig(**base, custom=(metric,))  # type: ignore[arg-type]
        r = await one(Answers({promql: value}), cfg)
        assert r.verdict is verdict
    bad = CustomMetric(name="bad", query='q{x="{{nope}}"}', min=0)
    r = await one(Answers(), AnalysisConfig(**base, custom=(bad,)))  # type: ignore[arg-type]
    assert r.verdict is Verdict.ERROR
    assert "{{nope}}" in r.message


def test_custom_metric_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="set min, max or both"):
        CustomMetric(name="x", query="up")


async def test_prediction_drift_needs_significance_at_small_samples() -> None:
    # 20 canary predictions: PSI 0.18 over a 0.1 limit, but chance explains it (p 0.19)
    canary = {"0": 11.0, "1": 4.0, "2": 5.0}
    stable = {"0": 70.0, "1": 68.0, "2": 62.0}
    small = DRIFT.model_copy(update={"min_requests": 20, "max_prediction_psi": 0.1})
    vectors = {
        q.prediction_classes_query(CANARY, W): canary,
        q.prediction_classes_query(STABLE, W): stable,
    }
    r = await one(Answers(vectors=vectors), small)
    assert r.value == pytest.approx(0.178, abs=1e-3)
    assert r.verdict is Verdict.SUCCESSFUL, r.message
    assert "within chance" in r.message
    # the same shift with ten times the traffic is real
    vectors = {
        q.prediction_classes_query(CANARY, W): {k: v * 10 for k, v in canary.items()},
        q.prediction_classes_query(STABLE, W): {k: v * 10 for k, v in stable.items()},
    }
    r = await one(Answers(vectors=vectors), small)
    assert r.verdict is Verdict.FAILED, r.message


CUSTOM_ONLY = AnalysisConfig(
    max_error_rate=None,
    error_rate_alpha=None,
    max_latency_ratio=None,
    min_requests=100,
    custom=(CustomMetric(name="queue", query='max(q{version="{{version}}"})', max=5),),
)


@pytest.mark.parametrize(
    ("requests", "verdict"),
    [(99, Verdict.INCONCLUSIVE), (None, Verdict.INCONCLUSIVE), (100, Verdict.SUCCESSFUL)],
)
async def test_custom_checks_honour_min_requests(requests: float | None, verdict: Verdict) -> None:
    answers = Answers(traffic(requests, 0, 1000, 0) | {'max(q{version="v2"})': 3.0})  # type: ignore[arg-type]
    r = await one(answers, CUSTOM_ONLY)
    assert r.verdict is verdict, r.message
    if verdict is Verdict.INCONCLUSIVE:
        assert "minimum 100" in r.message
        assert r.value is None  # not judged: the value is not reported as if it counted


@pytest.mark.parametrize(
    ("counts", "verdict", "fragment"),
    [
        ((3, 0, 1000, 1), Verdict.SUCCESSFUL, "0.00%"),  # three requests are enough
        ((3, 3, 1000, 1), Verdict.FAILED, "above 1.00%"),
        ((0, 0, 1000, 1), Verdict.INCONCLUSIVE, "only 0 canary requests"),  # nothing to divide
    ],
)
async def test_min_requests_zero_judges_any_window_with_data(
    counts: tuple[float, ...], verdict: Verdict, fragment: str
) -> None:
    cfg = AnalysisConfig(min_requests=0, max_latency_ratio=None)
    r = await one(Answers(traffic(*counts)), cfg)
    assert r.verdict is verdict, r.message
    assert fragment in r.message


async def test_confidence_off_leaves_the_absolute_bound_alone() -> None:
    """3 % vs 0.4 % is significantly worse (see test_error_rate), but with the comparison off
    (confidence 0: alpha None) only max (5 %) judges it."""
    cfg = ONLY_ERRORS.model_copy(update={"error_rate_alpha": None})
    r = await one(Answers(traffic(1000, 30, 9000, 36)), cfg)
    assert r.verdict is Verdict.SUCCESSFUL, r.message
    assert "vs stable" not in r.message


INPUTS = AnalysisConfig(
    max_error_rate=None,
    error_rate_alpha=None,
    max_latency_ratio=None,
    max_input_drift=0.25,
    min_requests=50,
)


@pytest.mark.parametrize(
    ("rows", "psi", "limit", "verdict", "fragment"),
    [
        (500, 0.05, 0.25, Verdict.SUCCESSFUL, "max input PSI 0.050"),
        (500, 0.40, 0.25, Verdict.FAILED, "max input PSI 0.400"),
        (500, 0.25, 0.25, Verdict.SUCCESSFUL, "limit 0.25"),  # at the limit: not above it
        (10, 0.90, 0.25, Verdict.INCONCLUSIVE, "only 10 input rows"),
        (None, None, 0.25, Verdict.INCONCLUSIVE, "only 0 input rows"),
        (500, None, 0.25, Verdict.INCONCLUSIVE, "no input drift data"),  # NaN until enough rows
        (500, 0.01, 0.0, Verdict.FAILED, "limit 0.0"),  # maxPsi 0: any drift fails
        (500, 0.0, 0.0, Verdict.SUCCESSFUL, "max input PSI 0.000"),
    ],
)
async def test_input_drift(
    rows: float | None, psi: float | None, limit: float, verdict: Verdict, fragment: str
) -> None:
    answers = Answers({q.input_rows_query(CANARY, W): rows, q.input_drift_query(CANARY): psi})
    cfg = INPUTS.model_copy(update={"max_input_drift": limit})
    r = await one(answers, cfg)
    assert r.metric == "input-drift"
    assert r.verdict is verdict, r.message
    assert fragment in r.message
    if verdict is not Verdict.INCONCLUSIVE:
        assert (r.value, r.threshold, r.samples) == (psi, limit, rows)
    # the canary's inputs only: the stable's drift is never asked
    assert all('version="v1"' not in asked for asked in answers.asked)


def test_planned_checks_follow_the_config() -> None:
    every = AnalysisConfig(
        max_latency_p99=0.1,
        max_prediction_psi=0.2,
        min_shadow_agreement=0.95,
        max_input_drift=0.25,
        custom=(CustomMetric(name="queue", query="q", max=1),),
    )
    steps = ("error-rate", "latency-p99", "prediction-drift", "input-drift", "queue")
    assert planned_checks(every) == steps
    assert planned_checks(every, mirrored=True) == (*steps[:3], "shadow-agreement", *steps[3:])
    nothing = AnalysisConfig(max_error_rate=None, error_rate_alpha=None, max_latency_ratio=None)
    assert planned_checks(nothing, mirrored=True) == ()
    only_shadow = nothing.model_copy(update={"min_shadow_agreement": 0.9})
    assert planned_checks(only_shadow) == ()
    assert planned_checks(only_shadow, mirrored=True) == ("shadow-agreement",)
