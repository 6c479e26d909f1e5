"""What the schema and CEL rules can reject, the real API server rejects, naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.operator_cluster.support import SHA, dry_run, md_manifest

pytestmark = pytest.mark.cluster

VALID: dict[str, Any] = {
    "model": {"uri": "https://models.local/iris.onnx", "version": "v1", "sha256": SHA},
}


def _with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """VALID with ``value`` at dotted ``path`` (``None`` deletes the key)."""
    spec = copy.deepcopy(base if base is not None else VALID)
    node = spec
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(keys[-1], None)
    else:
        node[keys[-1]] = value
    return spec


_GATEWAY = _with("rollout.traffic", {"router": "GatewayAPI"})
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, spec, field named in the error, words of the message)
    ("no-model", {"serving": {}}, "spec.model", "Required value"),
    ("no-version", _with("model.version", None), "spec.model.version", "version is required"),
    ("ftp-uri", _with("model.uri", "ftp://host/m.onnx"), "spec.model.uri", "uri must be"),
    ("relative-file", _with("model.uri", "file://m.onnx"), "spec.model.uri", "uri must be"),
    ("short-sha", _with("model.sha256", "abc123"), "spec.model.sha256", "should match"),
    ("http-no-sha", _with("model.sha256", None), "spec.model.sha256", "sha256 is required"),
    ("bad-version", _with("model.version", "v 1"), "spec.model.version", "should match"),
    (
        "negative-replicas",
        _with("serving.replicas", -1),
        "spec.serving.replicas",
        "greater than or equal to 0",
    ),
    (
        "replicas-and-autoscaling",
        _with("serving", {"replicas": 2, "autoscaling": {"maxReplicas": 3}}),
        "spec.serving.autoscaling",
        "mutually exclusive",
    ),
    (
        "min-over-max",
        _with("serving.autoscaling", {"minReplicas": 5, "maxReplicas": 3}),
        "spec.serving.autoscaling.minReplicas",
        "must not exceed maxReplicas",
    ),
    (
        "request-over-limit",
        _with("serving.resources", {"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}}),
        "spec.serving.resources.requests.cpu",
        "must not exceed limits.cpu",
    ),
    (
        "cpu-not-quantity",
        _with("serving.resources", {"requests": {"cpu": "lots"}}),
        "spec.serving.resources.requests.cpu",
        "Kubernetes quantity",
    ),
    (
        "steps-decreasing",
        _with("rollout.steps", [{"weight": 50}, {"weight": 20}]),
        "spec.rollout.steps",
        "increase strictly",
    ),
    (
        "steps-repeated",
        _with("rollout.steps", [{"weight": 20}, {"weight": 20}]),
        "spec.rollout.steps",
        "increase strictly",
    ),
    (
        "weight-over-100",
        _with("rollout.steps", [{"weight": 101}]),
        "spec.rollout.steps[0].weight",
        "less than or equal to 100",
    ),
    ("canary-no-steps", _with("rollout.steps", []), "spec.rollout.steps", "at least one step"),
    (
        "unknown-strategy",
        _with("rollout.strategy", "Linear"),
        "spec.rollout.strategy",
        "Unsupported value",
    ),
    ("gateway-no-route", _GATEWAY, "spec.rollout.traffic.httpRouteRef", "requires httpRouteRef"),
    (
        "route-without-gateway",
        _with("rollout.traffic", {"router": "Builtin", "httpRouteRef": {"name": "r"}}),
        "spec.rollout.traffic.httpRouteRef",
        "only used with router GatewayAPI",
    ),
    (
        "shadow-with-replicas",
        _with("rollout", {"strategy": "Shadow", "traffic": {"router": "Replicas"}}),
        "spec.rollout.traffic.router",
        "needs a router that can mirror",
    ),
    (
        "interval-not-duration",
        _with("rollout.analysisInterval", "30 seconds"),
        "spec.rollout.analysisInterval",
        "should match",
    ),
    (
        "interval-over-deadline",
        _with("rollout", {"analysisInterval": "20m", "progressDeadline": "10m"}),
        "spec.rollout.analysisInterval",
        "shorter than progressDeadline",
    ),
    (
        "env-overrides-model-path",
        _with("serving.env", [{"name": "CANARIA_MODEL_PATH", "value": "/x"}]),
        "spec.serving.env[0].name",
        "must not override",
    ),
    (
        "custom-min-over-max",
        _with("rollout.analysis.custom", [{"name": "acc", "query": "up", "min": 2, "max": 1}]),
        "spec.rollout.analysis.custom[0].min",
        "min must not exceed max",
    ),
    (
        "mirror-over-100",
        _with("rollout.traffic.mirrorPercent", 150),
        "spec.rollout.traffic.mirrorPercent",
        "less than or equal to 100",
    ),
    (
        "pause-and-until-resumed",
        _with("rollout.steps", [{"weight": 10, "pause": "1m", "pauseUntilResumed": True}]),
        "spec.rollout.steps[0].pause",
        "mutually exclusive",
    ),
    (
        "latency-ratio-below-1",
        _with("rollout.analysis.metrics", {"latencyP99": {"maxRatio": 0.5}}),
        "spec.rollout.analysis.metrics.latencyP99.maxRatio",
        "greater than or equal to 1",
    ),
    (
        "confidence-between-off-and-half",
        _with("rollout.analysis.metrics", {"errorRate": {"confidence": 0.3}}),
        "spec.rollout.analysis.metrics.errorRate.confidence",
        "confidence must be 0 (comparison with stable off) or within 0.5..0.9999",
    ),
    (
        "custom-named-like-a-builtin",
        _with("rollout.analysis.custom", [{"name": "error-rate", "query": "up", "max": 1}]),
        "spec.rollout.analysis.custom[0].name",
        "name must differ from the built-in checks",
    ),
    (
        "sticky-with-gateway",
        _with(
            "rollout.traffic",
            {"router": "GatewayAPI", "httpRouteRef": {"name": "r"}, "stickyHeader": "x-user"},
        ),
        "spec.rollout.traffic.stickyHeader",
        "stickyHeader needs router Builtin",
    ),
    (
        "sticky-with-replicas",
        _with("rollout.traffic", {"router": "Replicas", "stickyHeader": "x-user"}),
        "spec.rollout.traffic.stickyHeader",
        "stickyHeader needs router Builtin",
    ),
    (
        "shadow-agreement-without-the-router",
        _with(
            "rollout",
            {
                "traffic": {"router": "Replicas"},
                "analysis": {"metrics": {"shadowAgreement": {"min": 0.9}}},
            },
        ),
        "spec.rollout.analysis.metrics.shadowAgreement",
        "shadowAgreement needs router Builtin",
    ),
    (
        "bluegreen-mirroring-nothing",
        _with("rollout", {"strategy": "BlueGreen", "traffic": {"mirrorPercent": 0}}),
        "spec.rollout.traffic.mirrorPercent",
        "mirrorPercent must be at least 1 with strategy Shadow or BlueGreen",
    ),
    (
        "inconclusive-rounds-zero",
        _with("rollout.maxInconclusiveRounds", 0),
        "spec.rollout.maxInconclusiveRounds",
        "greater than or equal to 1",
    ),
]

# Values at the edges of what the API accepts, and combinations that used to be accepted but
# did not work: all accepted, all handled by the operator (tests/operator/test_bounds.py,
# tests/operator/test_combinations.py).
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("min-requests-zero", _with("rollout.analysis.minRequests", 0)),
    (
        "comparison-off-and-any-drift-fails",
        _with(
            "rollout.analysis.metrics",
            {
                "errorRate": {"confidence": 0},
                "predictionDrift": {"maxPsi": 0},
                "inputDrift": {"maxPsi": 0},
            },
        ),
    ),
    ("no-checks-at-all", _with("rollout.analysis", {"metrics": {}})),
    (
        "shadow-through-a-gateway",
        _with(
            "rollout",
            {
                "strategy": "Shadow",
                "traffic": {"router": "GatewayAPI", "httpRouteRef": {"name": "r"}},
            },
        ),
    ),
    (
        "bluegreen-replicas-autoscaled",
        _with(
            "serving",
            {"autoscaling": {"minReplicas": 2, "maxReplicas": 6}},
            _with("rollout", {"strategy": "BlueGreen", "traffic": {"router": "Replicas"}}),
        ),
    ),
    (
        "pvc-with-sha256",
        _with("model", {"uri": "pvc://models/iris/1/model.onnx", "version": "1", "sha256": SHA}),
    ),
]


def test_the_valid_base_is_accepted(crds: Any) -> None:
    proc = dry_run(crds, md_manifest("valid", VALID))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("spec", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_edge_values_and_fixed_combinations_are_accepted(crds: Any, spec: dict[str, Any]) -> None:
    proc = dry_run(crds, md_manifest("edge", spec))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("spec", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_manifest_is_rejected_naming_the_field(
    crds: Any, spec: dict[str, Any], field: str, words: str
) -> None:
    proc = dry_run(crds, md_manifest("bad", spec))
    assert proc.returncode != 0, f"accepted: {spec}"
    assert f"{field}:" in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr


def test_name_too_long_for_its_services_is_rejected(crds: Any) -> None:
    proc = dry_run(crds, md_manifest("m" * 57, VALID))
    assert proc.returncode != 0
    assert "metadata.name must be a DNS-1035 label of at most 56 characters" in proc.stderr


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 15
