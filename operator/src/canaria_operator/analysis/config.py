"""What to check (mirrors ``spec.rollout.analysis`` of the CRD; ``None`` disables a check).

Built from the API model by :func:`canaria_operator.api.convert.to_analysis_config`; bounds and
defaults come from :mod:`canaria_operator.analysis.bounds`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from canaria_operator.analysis import bounds as B

__all__ = ["AnalysisConfig", "CustomMetric"]


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
    """The checks of a round. ``AnalysisConfig()`` is what the CRD's defaults ask for (error
    rate and p99 latency relative to stable); a check whose field is ``None`` is off. User-set
    numbers carry the bounds of :mod:`canaria_operator.analysis.bounds` (the CRD's)."""

    # Below this many canary requests (or rows, or comparisons) in a window: Inconclusive.
    min_requests: int = B.MIN_REQUESTS.field()
    # Error rate (5xx / requests), absolute upper bound for the canary.
    max_error_rate: float | None = B.ERROR_RATE_MAX.field()
    # Canary vs stable: one-sided two-proportion z-test at this significance (1 - confidence);
    # the canary fails only if also worse by at least error_rate_min_effect. None: off.
    error_rate_alpha: float | None = Field(
        default=B.alpha_of(float(B.ERROR_RATE_CONFIDENCE.default or 0)),
        ge=1.0 - float(B.ERROR_RATE_CONFIDENCE.maximum or 1),
        le=1.0 - B.CONFIDENCE_MIN,
    )
    error_rate_min_effect: float = Field(default=0.01, ge=0, le=1)
    # p99 request latency, absolute (seconds) and relative to stable (ratio).
    max_latency_p99: float | None = Field(default=None, gt=0)
    max_latency_ratio: float | None = B.LATENCY_MAX_RATIO.field()
    # Relative latency only fails if the canary is also slower by at least this (seconds):
    # histogram buckets make small p99 differences meaningless.
    latency_min_delta: float = Field(default=0.005, ge=0)
    # PSI between canary and stable prediction distributions (class counts or buckets).
    max_prediction_psi: float | None = B.PREDICTION_DRIFT_MAX_PSI.field(default=False)
    # ...and only if a chi-square test says the counts differ beyond chance at this level
    # (small windows make PSI noisy). None: PSI alone decides.
    prediction_drift_alpha: float | None = Field(default=0.01, gt=0, lt=1)
    # Share of mirrored requests whose canary prediction agrees with stable (shadow/preview).
    min_shadow_agreement: float | None = B.SHADOW_AGREEMENT_MIN.field(default=False)
    # Max input-drift PSI (any feature) of the canary's recent inputs vs training reference.
    max_input_drift: float | None = B.INPUT_DRIFT_MAX_PSI.field(default=False)
    # Ground truth (feedback), classifiers: the canary fails when a one-sided test at
    # accuracy_alpha says its accuracy is more than accuracy_max_drop below the stable's on
    # the labelled requests of the same window. None: off.
    accuracy_max_drop: float | None = B.ACCURACY_MAX_DROP.field(default=False)
    accuracy_alpha: float = Field(default=0.05, gt=0, le=0.5)
    accuracy_min_labels: int = B.ACCURACY_MIN_LABELS.field()
    # Regressors: the canary fails when its mean absolute error exceeds error_max_ratio
    # times the stable's (one-sided test at error_alpha). None: off.
    error_max_ratio: float | None = B.ERROR_MAX_RATIO.field(default=False)
    error_alpha: float = Field(default=0.05, gt=0, le=0.5)
    error_min_labels: int = B.ERROR_MIN_LABELS.field()
    custom: tuple[CustomMetric, ...] = ()
