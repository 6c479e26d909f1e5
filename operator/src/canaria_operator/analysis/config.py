"""What to check (mirrors ``spec.rollout.analysis`` of the CRD; ``None`` disables a check)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = ["AnalysisConfig", "CustomMetric", "analysis_config_from_crd"]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class CustomMetric(_Frozen):
    """A PromQL template (see ``queries.render_template``) whose value must be in [min, max]."""

    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> CustomMetric:
        if self.min is None and self.max is None:
            raise ValueError(f"custom metric {self.name!r}: set min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"custom metric {self.name!r}: min {self.min} > max {self.max}")
        return self


class AnalysisConfig(_Frozen):
    # Below this many canary requests (or rows, or comparisons) in a window: Inconclusive.
    min_requests: int = Field(default=50, ge=1)
    # Error rate (5xx / requests), absolute upper bound for the canary.
    max_error_rate: float | None = Field(default=0.05, ge=0, le=1)
    # Canary vs stable: one-sided two-proportion z-test at this significance; the canary fails
    # only if also worse by at least error_rate_min_effect (absolute). None disables.
    error_rate_alpha: float | None = Field(default=0.01, gt=0, lt=1)
    error_rate_min_effect: float = Field(default=0.01, ge=0, le=1)
    # p99 request latency, absolute (seconds) and relative to stable (ratio).
    max_latency_p99: float | None = Field(default=None, gt=0)
    max_latency_ratio: float | None = Field(default=1.5, ge=1)
    # Relative latency only fails if the canary is also slower by at least this (seconds):
    # histogram buckets make small p99 differences meaningless.
    latency_min_delta: float = Field(default=0.005, ge=0)
    # PSI between canary and stable prediction distributions (class counts or buckets).
    max_prediction_psi: float | None = Field(default=0.2, gt=0)
    # ...and only if a chi-square test says the counts differ beyond chance at this level
    # (small windows make PSI noisy). None: PSI alone decides.
    prediction_drift_alpha: float | None = Field(default=0.01, gt=0, lt=1)
    # Share of mirrored requests whose canary prediction agrees with stable (shadow/preview).
    min_shadow_agreement: float | None = Field(default=0.9, ge=0, le=1)
    # Max input-drift PSI (any feature) of the canary's recent inputs vs training reference.
    max_input_drift: float | None = Field(default=None, gt=0)
    custom: tuple[CustomMetric, ...] = ()


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def analysis_config_from_crd(analysis: Mapping[str, Any]) -> AnalysisConfig:
    """``spec.rollout.analysis`` of a ModelDeployment (camelCase JSON) -> AnalysisConfig.

    A built-in metric absent from ``metrics`` is disabled; without ``metrics`` at all the
    CRD's default applies (error rate, and p99 latency at most 1.5x stable). ``errorRate``:
    ``max`` is the absolute bound, ``confidence`` the z-test's (alpha = 1 - confidence).
    """
    metrics = analysis.get("metrics")
    if metrics is None:
        metrics = {"errorRate": {}, "latencyP99": {"maxRatio": 1.5}}
    err, lat = metrics.get("errorRate"), metrics.get("latencyP99")
    drift, shadow = metrics.get("predictionDrift"), metrics.get("shadowAgreement")
    inputs = metrics.get("inputDrift")
    max_ms = _f((lat or {}).get("maxMs"))
    return AnalysisConfig(
        min_requests=int(analysis.get("minRequests", 50)),
        max_error_rate=None if err is None else float(err.get("max", 0.01)),
        error_rate_alpha=None if err is None else 1.0 - float(err.get("confidence", 0.95)),
        max_latency_p99=None if max_ms is None else max_ms / 1000.0,
        max_latency_ratio=None if lat is None else _f(lat.get("maxRatio")),
        max_prediction_psi=None if drift is None else float(drift.get("maxPsi", 0.2)),
        min_shadow_agreement=None if shadow is None else float(shadow.get("min", 0.95)),
        max_input_drift=None if inputs is None else float(inputs.get("maxPsi", 0.25)),
        custom=tuple(
            CustomMetric(
                name=c["name"], query=c["query"], min=_f(c.get("min")), max=_f(c.get("max"))
            )
            for c in analysis.get("custom") or ()
        ),
    )
