"""Map ``spec.rollout`` onto the inputs of the rollout state machine and of the analysis."""

from __future__ import annotations

from canaria_operator.analysis.bounds import alpha_of
from canaria_operator.analysis.config import AnalysisConfig, CustomMetric
from canaria_operator.api.base import parse_duration
from canaria_operator.api.spec import Analysis, Rollout
from canaria_operator.rollout.model import AcceptanceSpec, HookType, RolloutSpec, Step, Strategy

__all__ = ["to_analysis_config", "to_rollout_spec"]


def to_rollout_spec(rollout: Rollout) -> RolloutSpec:
    return RolloutSpec(
        strategy=Strategy(rollout.strategy),
        steps=tuple(
            Step(
                weight=s.weight,
                pause=None if s.pause is None else parse_duration(s.pause),
                pause_until_resumed=s.pause_until_resumed,
            )
            for s in rollout.steps
        ),
        analysis_interval=parse_duration(rollout.analysis_interval),
        failure_threshold=rollout.failure_threshold,
        successful_checks_per_step=rollout.successful_checks_per_step,
        error_threshold=rollout.error_threshold,
        max_inconclusive_rounds=rollout.max_inconclusive_rounds,
        progress_deadline=parse_duration(rollout.progress_deadline),
        scale_down_delay=parse_duration(rollout.scale_down_delay),
        mirror_percent=rollout.traffic.mirror_percent,
        acceptance=_acceptance(rollout),
        hooks=frozenset(HookType(w.type) for w in rollout.webhooks),
        label_delay=parse_duration(rollout.analysis.label_delay),
        replay_rps=rollout.analysis.replay.rps if rollout.analysis.replay else 0.0,
    )


def _acceptance(rollout: Rollout) -> AcceptanceSpec | None:
    acc = rollout.acceptance
    if acc is None:
        return None
    return AcceptanceSpec(
        min_accuracy=acc.min_accuracy,
        max_drop_vs_stable=acc.max_drop_vs_stable,
        max_error=acc.max_error,
        timeout=parse_duration(acc.timeout),
    )


def to_analysis_config(analysis: Analysis) -> AnalysisConfig:
    """``spec.rollout.analysis`` -> the checks of a round. A built-in metric absent from
    ``metrics`` is off; ``errorRate.confidence`` 0 turns the comparison with stable off.
    Raises ``ValueError`` (pydantic's) for a custom check the CRD could not rule out."""
    m = analysis.metrics
    err, lat, acc, mae = m.error_rate, m.latency_p99, m.accuracy, m.error
    off = AnalysisConfig()  # the ground-truth checks' numbers when they are off
    return AnalysisConfig(
        min_requests=analysis.min_requests,
        max_error_rate=None if err is None else err.max,
        error_rate_alpha=None if err is None else alpha_of(err.confidence),
        max_latency_p99=None if lat is None or lat.max_ms is None else lat.max_ms / 1000.0,
        max_latency_ratio=None if lat is None else lat.max_ratio,
        max_prediction_psi=None if m.prediction_drift is None else m.prediction_drift.max_psi,
        min_shadow_agreement=None if m.shadow_agreement is None else m.shadow_agreement.min,
        max_input_drift=None if m.input_drift is None else m.input_drift.max_psi,
        custom=tuple(
            CustomMetric(name=c.name, query=c.query, min=c.min, max=c.max) for c in analysis.custom
        ),
        accuracy_max_drop=None if acc is None else acc.max_drop,
        accuracy_alpha=off.accuracy_alpha if acc is None else 1.0 - acc.confidence,
        accuracy_min_labels=off.accuracy_min_labels if acc is None else acc.min_labels,
        error_max_ratio=None if mae is None else mae.max_ratio,
        error_alpha=off.error_alpha if mae is None else 1.0 - mae.confidence,
        error_min_labels=off.error_min_labels if mae is None else mae.min_labels,
    )
