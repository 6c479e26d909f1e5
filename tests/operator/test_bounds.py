"""One source of the analysis' bounds and defaults: the CRD, the API models and the analysis
config agree with ``canaria_operator.analysis.bounds``, and every value the CRD accepts gives
a configuration whose checks run (no value the API server takes is refused later)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from canaria_operator.analysis import (
    AnalysisConfig,
    Target,
    Verdict,
    bounds,
    planned_checks,
    run_analysis,
)
from canaria_operator.api import to_analysis_config
from canaria_operator.api.spec import Analysis, Rollout
from tests.operator.crdschema import apply_defaults, openapi_schema

ANALYSIS_SCHEMA = openapi_schema()["properties"]["spec"]["properties"]["rollout"]["properties"][
    "analysis"
]


def _schema_at(path: str) -> dict[str, Any]:
    node = ANALYSIS_SCHEMA
    for key in path.split("."):
        node = node["properties"][key]
    return node


def _model_field(path: str) -> tuple[type[BaseModel], Any]:
    """The API model class and pydantic FieldInfo behind a CRD path below analysis."""
    model: type[BaseModel] = Analysis
    keys = path.split(".")
    for key in keys[:-1]:
        info = next(f for f in model.model_fields.values() if f.alias == key)
        model = next(
            a for a in getattr(info.annotation, "__args__", (info.annotation,)) if a is not None
        )
    info = next(f for f in model.model_fields.values() if f.alias == keys[-1])
    return model, info


def _limits(info: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            out["minimum"] = m.ge
        elif isinstance(m, annotated_types.Gt):
            out["minimum"], out["exclusiveMinimum"] = m.gt, True
        elif isinstance(m, annotated_types.Le):
            out["maximum"] = m.le
    return out


@pytest.mark.parametrize("bound", bounds.BOUNDS, ids=lambda b: b.path)
def test_crd_states_the_bound(bound: bounds.Bound) -> None:
    schema = _schema_at(bound.path)
    assert schema.get("default") == bound.default
    assert schema.get("minimum") == bound.minimum
    assert schema.get("maximum") == bound.maximum
    assert schema.get("exclusiveMinimum", False) is bound.exclusive_minimum


@pytest.mark.parametrize("bound", bounds.BOUNDS, ids=lambda b: b.path)
def test_api_model_takes_the_bound(bound: bounds.Bound) -> None:
    _, info = _model_field(bound.path)
    assert info.default == bound.default
    want = {"minimum": bound.minimum, "maximum": bound.maximum}
    if bound.exclusive_minimum:
        want["exclusiveMinimum"] = True
    assert _limits(info) == {k: v for k, v in want.items() if v is not None}


def test_default_metrics_are_the_crds() -> None:
    assert _schema_at("metrics")["default"] == bounds.DEFAULT_METRICS


def test_the_crd_defaults_and_the_config_defaults_are_one_configuration() -> None:
    """An empty ``spec.rollout.analysis``, defaulted by the API server, gives exactly
    ``AnalysisConfig()`` (error-rate max 0.01 at 95 % confidence, p99 at most 1.5x stable)."""
    defaulted = apply_defaults(ANALYSIS_SCHEMA, {})
    config = to_analysis_config(Analysis.model_validate(defaulted))
    assert config == AnalysisConfig()
    assert config == to_analysis_config(Rollout().analysis)
    assert (config.max_error_rate, config.error_rate_alpha) == (0.01, pytest.approx(0.05))
    assert (config.max_latency_ratio, config.min_shadow_agreement) == (1.5, None)


def test_a_check_switched_on_without_numbers_gets_the_crd_default() -> None:
    raw = {
        "metrics": {
            "predictionDrift": {},
            "shadowAgreement": {},
            "inputDrift": {},
            "errorRate": {},
        }
    }
    config = to_analysis_config(Analysis.model_validate(apply_defaults(ANALYSIS_SCHEMA, raw)))
    assert config.max_prediction_psi == bounds.PREDICTION_DRIFT_MAX_PSI.default
    assert config.min_shadow_agreement == bounds.SHADOW_AGREEMENT_MIN.default
    assert config.max_input_drift == bounds.INPUT_DRIFT_MAX_PSI.default
    assert config.max_error_rate == bounds.ERROR_RATE_MAX.default
    assert config.max_latency_ratio is None  # latencyP99 not asked for: off


def _extremes(bound: bounds.Bound) -> list[float]:
    values = [v for v in (bound.minimum, bound.maximum) if v is not None]
    if bound.exclusive_minimum and bound.minimum is not None:
        values = [bound.minimum + 1e-9, *values[1:]]
    if bound.path == "metrics.errorRate.confidence":
        values.append(bounds.CONFIDENCE_MIN)  # 0 is "off", then 0.5..0.9999
    return [*values, 1e6] if bound.maximum is None else values


def _set(raw: dict[str, Any], path: str, value: float) -> dict[str, Any]:
    node = raw
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return raw


EVERY_CHECK = {
    "errorRate": {},
    "latencyP99": {"maxMs": 100},
    "predictionDrift": {},
    "shadowAgreement": {},
    "inputDrift": {},
}


class _NoData:
    async def query(self, promql: str) -> float | None:
        return None

    async def query_vector(self, promql: str, label: str) -> dict[str, float] | None:
        return None


@pytest.mark.parametrize(
    ("path", "value"),
    [(b.path, v) for b in bounds.BOUNDS for v in _extremes(b)],
    ids=str,
)
async def test_every_value_the_crd_accepts_runs(path: str, value: float) -> None:
    raw = _set({"metrics": {k: dict(v) for k, v in EVERY_CHECK.items()}}, path, value)
    config = to_analysis_config(Analysis.model_validate(apply_defaults(ANALYSIS_SCHEMA, raw)))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    results = await run_analysis(
        _NoData(),
        config,
        Target("iris", "v2"),
        Target("iris", "v1"),
        window=timedelta(seconds=30),
        at=at,
        mirroring=True,
    )
    planned = planned_checks(config, mirrored=True)
    assert len(planned) >= 5
    assert [r.metric for r in results] == list(planned)
    assert {r.verdict for r in results} == {Verdict.INCONCLUSIVE}  # no data: never a pass


def test_confidence_zero_turns_the_comparison_off() -> None:
    raw = {"metrics": {"errorRate": {"confidence": 0}}}
    config = to_analysis_config(Analysis.model_validate(apply_defaults(ANALYSIS_SCHEMA, raw)))
    assert config.error_rate_alpha is None
    assert config.max_error_rate == 0.01


def test_a_value_outside_the_bounds_is_refused_by_the_api_model() -> None:
    """What the CRD refuses, the operator's model refuses too (an object written before the
    CRD was installed becomes Degraded/InvalidSpec, never a check that errors each round)."""
    for path, value in (("minRequests", -1), ("metrics.errorRate.max", 1.5)):
        raw = _set({"metrics": {"errorRate": {}}}, path, value)
        with pytest.raises(ValidationError):
            Analysis.model_validate(raw)
