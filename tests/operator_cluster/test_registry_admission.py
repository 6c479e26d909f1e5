"""spec.model.registry, models:/ references and spec.retire at the real API server: what the
schema and CEL rules refuse is refused naming the field; the valid forms are accepted."""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator_cluster.support import dry_run, md_manifest

pytestmark = pytest.mark.cluster

REGISTRY = {"trackingUri": "http://mlflow.mlops:5000"}


def _model(**model: Any) -> dict[str, Any]:
    return {"model": model}


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("alias", _model(uri="models:/iris@champion", registry=REGISTRY)),
    (
        "version-with-secret",
        _model(
            uri="models:/fraud-model/12",
            registry={
                **REGISTRY,
                "credentialsSecretRef": {"name": "mlflow"},
                "pollInterval": "30s",
            },
        ),
    ),
    (
        "retire",
        {
            **_model(uri="models:/iris@champion", registry=REGISTRY),
            "retire": {"at": "2030-01-01T00:00:00Z", "reason": "replaced by iris-2"},
        },
    ),
]

REFUSED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "models-without-registry",
        _model(uri="models:/iris@champion"),
        "spec.model",
        "needs spec.model.registry",
    ),
    (
        "models-with-version",
        _model(uri="models:/iris/3", version="3", registry=REGISTRY),
        "spec.model",
        "takes neither version nor sha256",
    ),
    (
        "registry-for-https",
        _model(uri="https://m.local/a.onnx", version="1", sha256="a" * 64, registry=REGISTRY),
        "spec.model.registry",
        "only for a models:/ uri",
    ),
    (
        "stable-alias-is-the-followed-one",
        _model(uri="models:/iris@prod", registry={**REGISTRY, "stableAlias": "prod"}),
        "spec.model.registry.stableAlias",
        "must differ from the alias",
    ),
    (
        "no-version-or-alias",
        _model(uri="models:/iris", registry=REGISTRY),
        "spec.model.uri",
        "uri must be",
    ),
    (
        "bad-poll-interval",
        _model(uri="models:/iris@champion", registry={**REGISTRY, "pollInterval": "soon"}),
        "spec.model.registry.pollInterval",
        "should match",
    ),
    (
        "tracking-not-http",
        _model(uri="models:/iris@champion", registry={"trackingUri": "databricks"}),
        "spec.model.registry.trackingUri",
        "should match",
    ),
    (
        "retire-without-time",
        {**_model(uri="models:/iris@champion", registry=REGISTRY), "retire": {"reason": "x"}},
        "spec.retire.at",
        "Required value",
    ),
]


@pytest.mark.parametrize("spec", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_registry_forms_are_accepted(crds: Any, spec: dict[str, Any]) -> None:
    proc = dry_run(crds, md_manifest("registry", spec))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("spec", "field", "words"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_registry_mistakes_are_refused_naming_the_field(
    crds: Any, spec: dict[str, Any], field: str, words: str
) -> None:
    proc = dry_run(crds, md_manifest("registry", spec))
    assert proc.returncode != 0, f"accepted: {spec}"
    assert f"{field}:" in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr
