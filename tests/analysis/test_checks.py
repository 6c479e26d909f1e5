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
    run_analysis,
)
from canaria_operator.analysis import queries as q

AT = datetime(2026, 1, 1, tzinfo=UTC)
W = timedelta(seconds=30)
CANARY = Target(name="iris", version="v2", track="canary")
STABLE = Target(name="iris", version="v1", track="stable")
ONLY_ERRORS = AnalysisConfig(
    max_latency_ratio=None, max_prediction_psi=None, min_shadow_agreement=None
)


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
        "max_prediction_psi": None,
        "min_shadow_agreement": None,
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


def test_config_from_crd() -> None:
    from canaria_operator.analysis import analysis_config_from_crd

    default = analysis_config_from_crd({})
    assert default.max_error_rate == 0.01
    assert default.error_rate_alpha == pytest.approx(0.05)
    assert default.max_latency_ratio == 1.5
    assert default.max_prediction_psi is None
    assert default.min_shadow_agreement is None
    cfg = analysis_config_from_crd(
        {
            "minRequests": 20,
            "metrics": {
                "latencyP99": {"maxMs": 25},
                "predictionDrift": {"maxPsi": 0.1},
                "shadowAgreement": {"min": 0.99},
            },
            "custom": [{"name": "q", "query": 'up{job="{{name}}"}', "min": 1}],
        }
    )
    assert cfg.min_requests == 20
    assert cfg.max_error_rate is None
    assert cfg.error_rate_alpha is None
    assert cfg.max_latency_p99 == pytest.approx(0.025)
    assert cfg.max_latency_ratio is None
    assert (cfg.max_prediction_psi, cfg.min_shadow_agreement) == (0.1, 0.99)
    assert cfg.custom[0].min == 1.0


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
