"""Builders of ModelDeployment objects for the operator tests."""

from __future__ import annotations

import copy
from typing import Any

from canaria_operator.api import ModelDeployment
from tests.operator.crdschema import apply_defaults, openapi_schema

SHA = "a" * 64


def md_body(
    spec: dict[str, Any] | None = None,
    *,
    name: str = "iris",
    status: dict[str, Any] | None = None,
    generation: int = 1,
) -> dict[str, Any]:
    """A ModelDeployment as the API server returns it (CRD defaults applied)."""
    raw_spec = spec or {
        "model": {"uri": "https://models.local/iris.onnx", "version": "v1", "sha256": SHA}
    }
    body: dict[str, Any] = {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {
            "name": name,
            "namespace": "ml",
            "uid": "uid-1234",
            "generation": generation,
            "resourceVersion": "1",
        },
        "spec": copy.deepcopy(raw_spec),
    }
    body = apply_defaults(openapi_schema(), body)
    if status is not None:
        body["status"] = status
    return body


def make_md(spec: dict[str, Any] | None = None, **kw: Any) -> ModelDeployment:
    return ModelDeployment.parse(md_body(spec, **kw))
