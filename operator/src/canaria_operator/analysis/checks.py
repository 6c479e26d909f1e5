"""The built-in and custom checks of one analysis round.

``run_analysis`` queries canary and stable over the same window (one evaluation time for all
queries) and returns one ``CheckResult`` per enabled check. Nothing trustworthy to judge
(too few requests, empty/NaN results, Prometheus unreachable) is Inconclusive; a rejected query
or a broken template is Error.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from canaria_operator.analysis import queries as q
from canaria_operator.analysis.config import AnalysisConfig, CustomMetric
from canaria_operator.analysis.provider import MetricsProvider, ProviderUnavailable, QueryError
from canaria_operator.analysis.result import CheckResult, Verdict
from canaria_operator.analysis.stats import (
    bucket_counts,
    chi_square_homogeneity,
    psi,
    two_proportion_z,
)
from canaria_operator.analysis.truth import ACCURACY, ERROR, TruthRound

__all__ = [
    "ACCURACY",
    "ERROR",
    "ERROR_RATE",
    "INPUT_DRIFT",
    "LATENCY_P99",
    "PREDICTION_DRIFT",
    "SHADOW_AGREEMENT",
    "planned_checks",
    "run_analysis",
]

ERROR_RATE = "error-rate"
LATENCY_P99 = "latency-p99"
PREDICTION_DRIFT = "prediction-drift"
SHADOW_AGREEMENT = "shadow-agreement"
INPUT_DRIFT = "input-drift"


class _Round:
    def __init__(
        self,
        provider: MetricsProvider,
        config: AnalysisConfig,
        canary: q.Target,
        stable: q.Target,
        *,
        window: timedelta,
        at: datetime,
    ) -> None:
        self.p, self.cfg, self.canary, self.stable = provider, config, canary, stable
        self.window, self.at = window, at
        self._counts: dict[str, asyncio.Task[tuple[float, float]]] = {}

    def result(
        self, metric: str, verdict: Verdict, message: str, **kw: float | None
    ) -> CheckResult:
        samples = kw.pop("samples", None)
        return CheckResult(
            metric=metric,
            verdict=verdict,
            at=self.at,
            message=message,
            samples=None if samples is None else round(samples),
            **kw,
        )

    async def guarded(
        self, metric: str, check: Callable[[], Awaitable[CheckResult]]
    ) -> CheckResult:
        try:
            return await check()
        except ProviderUnavailable as exc:
            return self.result(metric, Verdict.INCONCLUSIVE, str(exc))
        except (QueryError, q.TemplateError) as exc:
            return self.result(metric, Verdict.ERROR, str(exc))

    def counts(self, t: q.Target) -> asyncio.Task[tuple[float, float]]:
        """(requests, 5xx errors) of a target over the window; shared by the checks."""
        if t.version not in self._counts:
            self._counts[t.version] = asyncio.ensure_future(self._fetch_counts(t))
        return self._counts[t.version]

    async def _fetch_counts(self, t: q.Target) -> tuple[float, float]:
        n, e = await asyncio.gather(
            self.p.query(q.requests_query(t, self.window)),
            self.p.query(q.errors_query(t, self.window)),
        )
        total = n or 0.0
        return total, min(e or 0.0, total)  # increase() extrapolates: keep errors <= total

    def judge(
        self, metric: str, value: float, limit: float, *, failed: bool, message: str, samples: float
    ) -> CheckResult:
        verdict = Verdict.FAILED if failed else Verdict.SUCCESSFUL
        return self.result(metric, verdict, message, value=value, threshold=limit, samples=samples)

    def enough(self, n: float) -> bool:
        """At least ``minRequests`` samples, and at least one: a built-in check computes a
        share or a distribution, which needs data (``minRequests: 0`` judges any window)."""
        return n >= max(self.cfg.min_requests, 1)

    def too_few(self, metric: str, n: float, what: str = "canary requests") -> CheckResult:
        return self.result(
            metric,
            Verdict.INCONCLUSIVE,
            f"only {n:.0f} {what} in {q.duration(self.window)} "
            f"(minimum {max(self.cfg.min_requests, 1)}): not judged",
            samples=n,
        )

    # --- checks ------------------------------------------------------------------------------

    async def error_rate(self) -> CheckResult:
        cfg = self.cfg
        (n_c, e_c), (n_s, e_s) = await asyncio.gather(
            self.counts(self.canary), self.counts(self.stable)
        )
        if not self.enough(n_c):
            return self.too_few(ERROR_RATE, n_c)
        rate_c = e_c / n_c
        rate_s = e_s / n_s if n_s > 0 else None
        kw: dict[str, float | None] = {
            "value": rate_c,
            "threshold": cfg.max_error_rate,
            "stable_value": rate_s,
            "samples": n_c,
        }
        if cfg.max_error_rate is not None and rate_c > cfg.max_error_rate:
            return self.result(
                ERROR_RATE,
                Verdict.FAILED,
                f"canary error rate {rate_c:.2%} above {cfg.max_error_rate:.2%} "
                f"({e_c:.0f}/{n_c:.0f} requests)",
                **kw,
            )
        vs = ""
        if cfg.error_rate_alpha is not None and self.enough(n_s) and rate_s is not None:
            test = two_proportion_z(round(e_c), round(n_c), round(e_s), round(n_s))
            stats = f"(z={test.z:.2f}, p={test.p_value:.3g})"
            vs = f" vs stable {rate_s:.2%} {stats}"
            if test.p_value < cfg.error_rate_alpha and rate_c - rate_s > cfg.error_rate_min_effect:
                return self.result(
                    ERROR_RATE,
                    Verdict.FAILED,
                    f"canary error rate {rate_c:.2%} significantly above "
                    f"stable {rate_s:.2%} {stats}",
                    **kw,
                )
        return self.result(
            ERROR_RATE, Verdict.SUCCESSFUL, f"canary error rate {rate_c:.2%}{vs}", **kw
        )

    async def latency(self) -> CheckResult:
        cfg = self.cfg
        (n_c, _), p_c, p_s = await asyncio.gather(
            self.counts(self.canary),
            self.p.query(q.latency_quantile_query(self.canary, self.window)),
            self.p.query(q.latency_quantile_query(self.stable, self.window)),
        )
        if not self.enough(n_c):
            return self.too_few(LATENCY_P99, n_c)
        if p_c is None:
            return self.result(LATENCY_P99, Verdict.INCONCLUSIVE, "no canary latency data")
        threshold = cfg.max_latency_p99
        kw: dict[str, float | None] = {"value": p_c, "stable_value": p_s, "samples": n_c}
        if threshold is not None and p_c > threshold:
            return self.result(
                LATENCY_P99,
                Verdict.FAILED,
                f"canary p99 {p_c * 1000:.1f} ms above {threshold * 1000:.1f} ms",
                threshold=threshold,
                **kw,
            )
        if cfg.max_latency_ratio is not None and p_s is not None:
            limit = max(p_s * cfg.max_latency_ratio, p_s + cfg.latency_min_delta)
            kw["threshold"] = limit
            if p_c > limit:
                return self.result(
                    LATENCY_P99,
                    Verdict.FAILED,
                    f"canary p99 {p_c * 1000:.1f} ms above {limit * 1000:.1f} ms "
                    f"(stable {p_s * 1000:.1f} ms x {cfg.max_latency_ratio})",
                    **kw,
                )
        else:
            kw["threshold"] = threshold
        stable = f" (stable {p_s * 1000:.1f} ms)" if p_s is not None else ""
        return self.result(
            LATENCY_P99, Verdict.SUCCESSFUL, f"canary p99 {p_c * 1000:.1f} ms{stable}", **kw
        )

    async def prediction_drift(self) -> CheckResult:
        limit = self.cfg.max_prediction_psi
        assert limit is not None
        kind = "class counts"
        dist_c, dist_s = await asyncio.gather(
            self.p.query_vector(q.prediction_classes_query(self.canary, self.window), "class"),
            self.p.query_vector(q.prediction_classes_query(self.stable, self.window), "class"),
        )
        if dist_c is None and dist_s is None:  # a regressor: compare prediction histograms
            kind = "prediction histogram"
            cum_c, cum_s = await asyncio.gather(
                self.p.query_vector(q.prediction_buckets_query(self.canary, self.window), "le"),
                self.p.query_vector(q.prediction_buckets_query(self.stable, self.window), "le"),
            )
            dist_c = bucket_counts(cum_c) if cum_c else None
            dist_s = bucket_counts(cum_s) if cum_s else None
        rows_c = sum(dist_c.values()) if dist_c else 0.0
        rows_s = sum(dist_s.values()) if dist_s else 0.0
        if not self.enough(rows_c):
            return self.too_few(PREDICTION_DRIFT, rows_c, "canary predictions")
        if not self.enough(rows_s) or dist_s is None or dist_c is None:
            return self.too_few(PREDICTION_DRIFT, rows_s, "stable predictions")
        value = psi(dist_s, dist_c)
        _, p_value = chi_square_homogeneity(dist_c, dist_s)
        alpha = self.cfg.prediction_drift_alpha
        significant = alpha is None or p_value < alpha
        message = (
            f"PSI {value:.3f} of canary vs stable {kind} (limit {limit}); "
            f"chi-square p={p_value:.2g}"
            + ("" if significant else f" (not significant at {alpha}: within chance)")
        )
        return self.judge(
            PREDICTION_DRIFT,
            value,
            limit,
            failed=value > limit and significant,
            message=message,
            samples=rows_c,
        )

    async def shadow_agreement(self) -> CheckResult:
        limit = self.cfg.min_shadow_agreement
        assert limit is not None
        counts = await self.p.query_vector(
            q.shadow_query(self.canary.name, self.canary.namespace, self.window), "result"
        )
        counts = counts or {}
        total = sum(counts.values())
        if not self.enough(total):
            return self.too_few(SHADOW_AGREEMENT, total, "shadow comparisons")
        share = counts.get("agree", 0.0) / total
        message = (
            f"canary agrees with stable on {share:.1%} of {total:.0f} mirrored requests "
            f"(minimum {limit:.1%}; errors {counts.get('error', 0.0):.0f})"
        )
        return self.judge(
            SHADOW_AGREEMENT, share, limit, failed=share < limit, message=message, samples=total
        )

    async def input_drift(self) -> CheckResult:
        limit = self.cfg.max_input_drift
        assert limit is not None
        rows, value = await asyncio.gather(
            self.p.query(q.input_rows_query(self.canary, self.window)),
            self.p.query(q.input_drift_query(self.canary)),
        )
        if not self.enough(rows or 0.0):
            return self.too_few(INPUT_DRIFT, rows or 0.0, "input rows")
        if value is None:
            return self.result(INPUT_DRIFT, Verdict.INCONCLUSIVE, "no input drift data")
        message = f"max input PSI {value:.3f} vs training reference (limit {limit})"
        return self.judge(
            INPUT_DRIFT, value, limit, failed=value > limit, message=message, samples=rows or 0.0
        )

    async def custom(self, metric: CustomMetric) -> CheckResult:
        """A custom check honours ``minRequests`` like the built-in ones (with 0 it is judged
        whatever the traffic: it may measure something other than requests). Its query runs
        either way, so that a query Prometheus rejects is an Error even without traffic."""
        promql = q.render_template(metric.query, self.canary, self.stable.version, self.window)
        value, (n_c, _) = await asyncio.gather(self.p.query(promql), self.counts(self.canary))
        if n_c < self.cfg.min_requests:
            return self.too_few(metric.name, n_c)
        bounds = {"value": value, "threshold": metric.max if metric.max is not None else metric.min}
        if value is None:
            return self.result(metric.name, Verdict.INCONCLUSIVE, "empty or NaN result", **bounds)
        low = metric.min is not None and value < metric.min
        high = metric.max is not None and value > metric.max
        verdict = Verdict.FAILED if low or high else Verdict.SUCCESSFUL
        rng = f"[{metric.min if metric.min is not None else '-inf'}, "
        rng += f"{metric.max if metric.max is not None else '+inf'}]"
        return self.result(metric.name, verdict, f"{value:.4g} (allowed {rng})", **bounds)


def planned_checks(config: AnalysisConfig, *, mirrored: bool = False) -> tuple[str, ...]:
    """The names of the checks a round runs, in order. ``mirrored``: the canary receives a
    copy of stable traffic that Canaria's router compares (Shadow stage and BlueGreen preview
    with traffic mode Builtin); only then is shadow agreement measured. An empty tuple: this
    configuration judges nothing at that stage."""
    names: list[str] = []
    if config.max_error_rate is not None or config.error_rate_alpha is not None:
        names.append(ERROR_RATE)
    if config.max_latency_p99 is not None or config.max_latency_ratio is not None:
        names.append(LATENCY_P99)
    if config.max_prediction_psi is not None:
        names.append(PREDICTION_DRIFT)
    if mirrored and config.min_shadow_agreement is not None:
        names.append(SHADOW_AGREEMENT)
    if config.max_input_drift is not None:
        names.append(INPUT_DRIFT)
    if config.accuracy_max_drop is not None:
        names.append(ACCURACY)
    if config.error_max_ratio is not None:
        names.append(ERROR)
    names += [m.name for m in config.custom]
    return tuple(names)


async def run_analysis(
    provider: MetricsProvider,
    config: AnalysisConfig,
    canary: q.Target,
    stable: q.Target,
    *,
    window: timedelta,
    at: datetime,
    mirroring: bool = False,
    truth_window: timedelta | None = None,
) -> list[CheckResult]:
    """One round: every check :func:`planned_checks` names, canary vs stable over ``window``
    ending at ``at`` (the ground-truth checks over ``truth_window``, default ``window``).
    Pass a provider evaluating at ``at`` (``PrometheusProvider(at=...)``)."""
    r = _Round(provider, config, canary, stable, window=window, at=at)
    truth = TruthRound(provider, config, canary, stable, truth_window or window, at)
    builtin: dict[str, Callable[[], Awaitable[CheckResult]]] = {
        ERROR_RATE: r.error_rate,
        LATENCY_P99: r.latency,
        PREDICTION_DRIFT: r.prediction_drift,
        SHADOW_AGREEMENT: r.shadow_agreement,
        INPUT_DRIFT: r.input_drift,
        ACCURACY: truth.accuracy,
        ERROR: truth.error,
    }
    names = planned_checks(config, mirrored=mirroring)
    checks = [(n, builtin[n]) for n in names[: len(names) - len(config.custom)]]
    checks += [(m.name, functools.partial(r.custom, m)) for m in config.custom]
    return list(await asyncio.gather(*(r.guarded(name, fn) for name, fn in checks)))
