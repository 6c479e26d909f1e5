"""The ground-truth fields at the real API server (dry run): what works is accepted, what
cannot work is refused naming the field (CEL and schema)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator_cluster.support import SHA, dry_run, md_manifest
from tests.operator_cluster.test_invalid_manifests import _with as with_value

pytestmark = pytest.mark.cluster

BASE: dict[str, Any] = {
    "model": {"uri": "https://models.local/iris.onnx", "version": "v1", "sha256": SHA},
    "serving": {"feedback": {}, "payloadLog": {"sampleRate": 0.1}},
    "rollout": {
        "strategy": "Shadow",
        "analysis": {
            "labelDelay": "30s",
            "replay": {"rps": 2},
            "metrics": {"accuracy": {}, "errorRate": {}},
        },
        "acceptance": {
            "dataset": {"uri": "s3://data/iris-test.parquet", "labelColumn": "species"},
            "minAccuracy": 0.9,
        },
        "webhooks": [
            {"name": "gate", "type": "confirm-promotion", "url": "https://ci.local/ok"},
            {"name": "notify", "type": "post-rollout", "url": "http://chat.local/x",
             "metadata": {"channel": "ml"}},
        ],
    },
}  # fmt: skip


def _with(path: str, value: Any) -> dict[str, Any]:
    return with_value(path, value, BASE)


CASES = [
    (
        "accuracy-without-feedback",
        _with("serving.feedback", None),
        "spec.rollout.analysis.metrics",
        "need spec.serving.feedback",
    ),
    (
        "accuracy-and-error",
        _with("rollout.analysis.metrics.error", {}),
        "spec.rollout.analysis.metrics.error",
        "mutually exclusive",
    ),
    (
        "accuracy-drop-over-1",
        _with("rollout.analysis.metrics.accuracy", {"maxDrop": 1.5}),
        "spec.rollout.analysis.metrics.accuracy.maxDrop",
        "less than or equal to 1",
    ),
    (
        "accuracy-confidence-low",
        _with("rollout.analysis.metrics.accuracy", {"confidence": 0.3}),
        "spec.rollout.analysis.metrics.accuracy.confidence",
        "greater than or equal to 0.5",
    ),
    (
        "min-labels-zero",
        _with("rollout.analysis.metrics.accuracy", {"minLabels": 0}),
        "spec.rollout.analysis.metrics.accuracy.minLabels",
        "greater than or equal to 1",
    ),
    (
        "label-delay-day",
        _with("rollout.analysis.labelDelay", "25h"),
        "spec.rollout.analysis.labelDelay",
        "at most 24h",
    ),
    (
        "replay-without-payload-log",
        _with("serving.payloadLog", None),
        "spec.rollout.analysis.replay",
        "payloadLog.sampleRate",
    ),
    (
        "replay-zero",
        _with("rollout.analysis.replay", {"rps": 0}),
        "spec.rollout.analysis.replay.rps",
        "greater than 0",
    ),
    (
        "replay-with-replicas",
        _with("rollout.traffic", {"router": "Replicas"}),
        "spec.rollout.analysis.replay",
        "router Builtin",
    ),
    (
        "retention-zero",
        _with("serving.feedback", {"retention": "0s"}),
        "spec.serving.feedback.retention",
        "within 1s..168h",
    ),
    (
        "acceptance-no-threshold",
        _with("rollout.acceptance.minAccuracy", None),
        "spec.rollout.acceptance",
        "needs minAccuracy",
    ),
    (
        "acceptance-ftp",
        _with("rollout.acceptance.dataset.uri", "ftp://x/y.csv"),
        "spec.rollout.acceptance.dataset.uri",
        "uri must be",
    ),
    (
        "acceptance-format",
        _with("rollout.acceptance.dataset.format", "JSON"),
        "spec.rollout.acceptance.dataset.format",
        "Unsupported value",
    ),
    (
        "hook-type",
        _with("rollout.webhooks", [{"name": "x", "type": "confirm-rollout", "url": "http://h/"}]),
        "spec.rollout.webhooks[0].type",
        "Unsupported value",
    ),
    (
        "hook-url",
        _with("rollout.webhooks", [{"name": "x", "type": "rollout", "url": "h/x"}]),
        "spec.rollout.webhooks[0].url",
        "should match",
    ),
    (
        "hook-timeout",
        _with(
            "rollout.webhooks",
            [{"name": "x", "type": "rollout", "url": "http://h/", "timeout": "2m"}],
        ),
        "spec.rollout.webhooks[0].timeout",
        "within 0..60s",
    ),
    (
        "custom-named-accuracy",
        _with("rollout.analysis.custom", [{"name": "accuracy", "query": "1", "max": 2}]),
        "spec.rollout.analysis.custom[0].name",
        "must differ from the built-in",
    ),
]


def test_every_ground_truth_field_at_once_is_accepted(crds: Any) -> None:
    proc = dry_run(crds, md_manifest("truth", BASE))
    assert proc.returncode == 0, proc.stderr


def test_error_for_a_regressor_is_accepted(crds: Any) -> None:
    spec = _with("rollout.analysis.metrics", {"error": {"maxRatio": 1.2, "minLabels": 50}})
    proc = dry_run(crds, md_manifest("truth", spec))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("spec", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_what_cannot_work_is_refused_naming_the_field(
    crds: Any, spec: dict[str, Any], field: str, words: str
) -> None:
    proc = dry_run(crds, md_manifest("truth", spec))
    assert proc.returncode != 0, f"accepted: {spec}"
    assert f"{field}:" in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr
