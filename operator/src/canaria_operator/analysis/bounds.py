"""Bounds and defaults of ``spec.rollout.analysis``: the one place they are written down.

The CRD (``crds/modeldeployment.yaml``) states the same numbers for the API server; the API
models (:mod:`canaria_operator.api.spec`) and the analysis config
(:class:`canaria_operator.analysis.config.AnalysisConfig`) take theirs from here, and
``tests/operator/test_bounds.py`` checks that all three agree, value by value.

Every value the CRD accepts works:

* ``minRequests: 0`` judges any window (a built-in check still needs one request to compute
  anything: an empty window stays Inconclusive; custom checks are judged without traffic);
* ``errorRate.confidence: 0`` turns the canary-vs-stable comparison off (only ``max`` applies);
  other confidences must lie in 0.5..0.9999 (the CRD refuses the rest with a CEL rule);
* ``maxPsi: 0`` fails on any drift (prediction drift: any significant difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

__all__ = [
    "ACCURACY_CONFIDENCE",
    "ACCURACY_MAX_DROP",
    "ACCURACY_MIN_LABELS",
    "BOUNDS",
    "CONFIDENCE_MIN",
    "CONFIDENCE_OFF",
    "DEFAULT_METRICS",
    "ERROR_CONFIDENCE",
    "ERROR_MAX_RATIO",
    "ERROR_MIN_LABELS",
    "ERROR_RATE_CONFIDENCE",
    "ERROR_RATE_MAX",
    "INPUT_DRIFT_MAX_PSI",
    "LATENCY_MAX_MS",
    "LATENCY_MAX_RATIO",
    "MIN_REQUESTS",
    "PREDICTION_DRIFT_MAX_PSI",
    "REPLAY_RPS",
    "SHADOW_AGREEMENT_MIN",
    "Bound",
    "alpha_of",
]


@dataclass(frozen=True)
class Bound:
    """One number of the API: where it is (below ``spec.rollout.analysis``), its default and
    the range the API server accepts (``exclusive_minimum``: the minimum itself is refused)."""

    path: str
    default: float | None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def field(self, *, default: bool = True) -> Any:
        """A pydantic ``Field`` with this range (and this default unless ``default=False``,
        for config fields whose default is "check off")."""
        kw: dict[str, Any] = {}
        if self.minimum is not None:
            kw["gt" if self.exclusive_minimum else "ge"] = self.minimum
        if self.maximum is not None:
            kw["le"] = self.maximum
        return Field(default=self.default if default else None, **kw)


MIN_REQUESTS = Bound("minRequests", 50, 0, 1_000_000)
ERROR_RATE_MAX = Bound("metrics.errorRate.max", 0.01, 0, 1)
ERROR_RATE_CONFIDENCE = Bound("metrics.errorRate.confidence", 0.95, 0, 0.9999)
LATENCY_MAX_MS = Bound("metrics.latencyP99.maxMs", None, 0, exclusive_minimum=True)
LATENCY_MAX_RATIO = Bound("metrics.latencyP99.maxRatio", 1.5, 1)
PREDICTION_DRIFT_MAX_PSI = Bound("metrics.predictionDrift.maxPsi", 0.2, 0)
SHADOW_AGREEMENT_MIN = Bound("metrics.shadowAgreement.min", 0.95, 0, 1)
INPUT_DRIFT_MAX_PSI = Bound("metrics.inputDrift.maxPsi", 0.25, 0)
# Ground truth (feedback): accuracy (classifiers) and mean absolute error (regressors).
ACCURACY_MAX_DROP = Bound("metrics.accuracy.maxDrop", 0.02, 0, 1)
ACCURACY_CONFIDENCE = Bound("metrics.accuracy.confidence", 0.95, 0.5, 0.9999)
ACCURACY_MIN_LABELS = Bound("metrics.accuracy.minLabels", 200, 1, 1_000_000)
ERROR_MAX_RATIO = Bound("metrics.error.maxRatio", 1.1, 1)
ERROR_CONFIDENCE = Bound("metrics.error.confidence", 0.95, 0.5, 0.9999)
ERROR_MIN_LABELS = Bound("metrics.error.minLabels", 200, 1, 1_000_000)
REPLAY_RPS = Bound("replay.rps", 5, 0, 100, exclusive_minimum=True)
BOUNDS = (
    MIN_REQUESTS,
    ERROR_RATE_MAX,
    ERROR_RATE_CONFIDENCE,
    LATENCY_MAX_MS,
    LATENCY_MAX_RATIO,
    PREDICTION_DRIFT_MAX_PSI,
    SHADOW_AGREEMENT_MIN,
    INPUT_DRIFT_MAX_PSI,
    ACCURACY_MAX_DROP,
    ACCURACY_CONFIDENCE,
    ACCURACY_MIN_LABELS,
    ERROR_MAX_RATIO,
    ERROR_CONFIDENCE,
    ERROR_MIN_LABELS,
    REPLAY_RPS,
)

# errorRate.confidence: 0 turns the comparison off; otherwise at least this (CEL rule).
CONFIDENCE_OFF = 0.0
CONFIDENCE_MIN = 0.5
# The built-in checks that are on when spec.rollout.analysis.metrics is not given.
DEFAULT_METRICS: dict[str, dict[str, float]] = {"errorRate": {}, "latencyP99": {"maxRatio": 1.5}}


def alpha_of(confidence: float) -> float | None:
    """Significance level of the canary-vs-stable error-rate test (None: comparison off)."""
    return None if confidence == CONFIDENCE_OFF else 1.0 - confidence
