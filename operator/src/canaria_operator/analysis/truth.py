"""The ground-truth checks: canary vs stable on the requests whose truth arrived.

The serving pods count, per version, the rows whose truth arrived through feedback
(``canaria_feedback_labelled_total``), the ones predicted right (classifiers) and the sums of
|error| and error^2 (regressors), at the moment the truth arrives. Both versions are queried
over the same window (by default since the rollout started: accuracy is a property of the
model, so evidence accumulates across steps), so each side's figures are the requests whose
truths came in that window, i.e. requests about ``labelDelay`` old.

Verdicts (never a pass on too little evidence):

* fewer than ``minLabels`` labelled rows on either side: Inconclusive;
* the one-sided test says the canary is worse than allowed at the configured confidence:
  Failed;
* the observed difference is beyond the limit but not (yet) significant: Inconclusive,
  "waiting for more labels" (the window grows, so the next rounds decide);
* otherwise Successful.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from canaria_operator.analysis import queries as q
from canaria_operator.analysis.config import AnalysisConfig
from canaria_operator.analysis.provider import MetricsProvider
from canaria_operator.analysis.result import CheckResult, Verdict
from canaria_operator.analysis.stats import ErrorSums, accuracy_drop_test, mae_ratio_test
from canaria_serving import contract as c

__all__ = ["ACCURACY", "ERROR", "TruthRound"]

ACCURACY = "accuracy"
ERROR = "error"


@dataclass(frozen=True)
class TruthRound:
    """The ground-truth checks of one round: canary vs stable over ``window`` ending ``at``."""

    p: MetricsProvider
    cfg: AnalysisConfig
    canary: q.Target
    stable: q.Target
    window: timedelta
    at: datetime

    async def _sums(self, metrics: tuple[str, ...], t: q.Target) -> list[float | None]:
        return list(
            await asyncio.gather(
                *(self.p.query(q.feedback_query(m, t, self.window)) for m in metrics)
            )
        )

    async def _both(
        self, metrics: tuple[str, ...]
    ) -> tuple[list[float | None], list[float | None]]:
        c, s = await asyncio.gather(
            self._sums(metrics, self.canary), self._sums(metrics, self.stable)
        )
        return c, s

    def _result(self, metric: str, verdict: Verdict, message: str, **kw: float) -> CheckResult:
        samples = kw.pop("samples", None)
        return CheckResult(
            metric=metric,
            verdict=verdict,
            at=self.at,
            message=message,
            samples=None if samples is None else round(samples),
            **kw,
        )

    def _missing(self, metric: str, what: str) -> CheckResult:
        """Labels arrived but the sums this check needs are not exported: the model is of
        the other kind (a regressor has no correct rows, a classifier no error sums)."""
        return self._result(
            metric,
            Verdict.INCONCLUSIVE,
            f"labelled requests have no {what}: is the model a "
            f"{'classifier' if metric == ACCURACY else 'regressor'}? (accuracy is for "
            "classifiers, error for regressors)",
        )

    def _too_few(self, metric: str, n_c: float, n_s: float, least: int) -> CheckResult:
        return self._result(
            metric,
            Verdict.INCONCLUSIVE,
            f"only {n_c:.0f} labelled canary and {n_s:.0f} stable requests in "
            f"{q.duration(self.window)} (minimum {least} each): not judged",
            samples=n_c,
        )

    async def accuracy(self) -> CheckResult:
        cfg = self.cfg
        margin = cfg.accuracy_max_drop
        assert margin is not None
        canary, stable = await self._both((c.M_FEEDBACK_LABELLED, c.M_FEEDBACK_CORRECT))
        n_c, n_s = canary[0] or 0.0, stable[0] or 0.0
        least = cfg.accuracy_min_labels
        if n_c < least or n_s < least:
            return self._too_few(ACCURACY, n_c, n_s, least)
        if canary[1] is None or stable[1] is None:
            return self._missing(ACCURACY, "correct-prediction counts")
        ok_c, ok_s = min(canary[1], n_c), min(stable[1], n_s)  # increase() extrapolates
        test = accuracy_drop_test(round(ok_c), round(n_c), round(ok_s), round(n_s), margin)
        acc_c, acc_s = test.rate_a, test.rate_b
        drop = acc_s - acc_c
        figures = (
            f"canary accuracy {acc_c:.1%} vs stable {acc_s:.1%} on {n_c:.0f}/{n_s:.0f} "
            f"labelled requests"
        )
        stats = f"(limit {margin:.1%} lower; z={test.z:.2f}, p={test.p_value:.3g})"
        kw = {"value": acc_c, "stable_value": acc_s, "threshold": acc_s - margin, "samples": n_c}
        if test.p_value < cfg.accuracy_alpha:
            return self._result(
                ACCURACY, Verdict.FAILED, f"{figures}: {drop:.1%} lower {stats}", **kw
            )
        if drop > margin:
            message = (
                f"{figures}: {drop:.1%} lower, within chance so far {stats}; waiting for labels"
            )
            return self._result(ACCURACY, Verdict.INCONCLUSIVE, message, **kw)
        return self._result(ACCURACY, Verdict.SUCCESSFUL, f"{figures} {stats}", **kw)

    async def error(self) -> CheckResult:
        cfg = self.cfg
        ratio = cfg.error_max_ratio
        assert ratio is not None
        names = (c.M_FEEDBACK_LABELLED, c.M_FEEDBACK_ABS_ERROR, c.M_FEEDBACK_SQUARED_ERROR)
        canary, stable = await self._both(names)
        n_c, n_s = canary[0] or 0.0, stable[0] or 0.0
        least = cfg.error_min_labels
        if n_c < least or n_s < least:
            return self._too_few(ERROR, n_c, n_s, least)
        if None in canary[1:] or None in stable[1:]:
            return self._missing(ERROR, "error sums")
        abs_c, sq_c, abs_s, sq_s = (float(v or 0.0) for v in (*canary[1:], *stable[1:]))
        test = mae_ratio_test(ErrorSums(abs_c, sq_c, n_c), ErrorSums(abs_s, sq_s, n_s), ratio)
        mae_c, mae_s = test.rate_a, test.rate_b
        limit = ratio * mae_s
        figures = (
            f"canary MAE {mae_c:.4g} vs stable {mae_s:.4g} on {n_c:.0f}/{n_s:.0f} labelled requests"
        )
        stats = f"(limit {ratio}x = {limit:.4g}; z={test.z:.2f}, p={test.p_value:.3g})"
        kw = {"value": mae_c, "stable_value": mae_s, "threshold": limit, "samples": n_c}
        if test.p_value < cfg.error_alpha:
            return self._result(ERROR, Verdict.FAILED, f"{figures}: above the limit {stats}", **kw)
        if mae_c > limit:
            message = (
                f"{figures}: above the limit, within chance so far {stats}; waiting for labels"
            )
            return self._result(ERROR, Verdict.INCONCLUSIVE, message, **kw)
        return self._result(ERROR, Verdict.SUCCESSFUL, f"{figures} {stats}", **kw)
