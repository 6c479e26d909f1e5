"""The ModelDeployment object as a whole, parsed from a kopf body or an API response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from canaria_operator.api.base import ApiModel
from canaria_operator.api.spec import ModelDeploymentSpec
from canaria_operator.api.status import ModelDeploymentStatus

__all__ = ["GROUP", "KIND", "PLURAL", "VERSION", "InvalidObject", "ModelDeployment", "ObjectMeta"]

GROUP = "canaria.dev"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"


class InvalidObject(ValueError):
    """An object the API server accepted but the operator cannot read (should not happen when
    the CRD is installed; reported as Degraded/InvalidSpec instead of crashing)."""


class ObjectMeta(ApiModel):
    name: str
    namespace: str
    uid: str
    generation: int = 0
    resource_version: str | None = None
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)


class ModelDeployment(ApiModel):
    metadata: ObjectMeta
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus = Field(default_factory=ModelDeploymentStatus)

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ModelDeployment:
        try:
            return cls.model_validate(
                {
                    "metadata": dict(body.get("metadata") or {}),
                    "spec": dict(body.get("spec") or {}),
                    "status": dict(body.get("status") or {}),
                }
            )
        except ValidationError as exc:
            raise InvalidObject(_summarise(exc)) from exc

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def model_name(self) -> str:
        return self.spec.model.name or self.metadata.name


def _summarise(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
