"""Deployment and HorizontalPodAutoscaler of one version, and the Services (pure builders).

Every object carries the ModelDeployment as controlling owner (deleting it garbage-collects
the track) and the annotation ``canaria.dev/spec-hash``: a digest of everything the operator
sets, so "is it up to date?" is one string comparison and an unchanged ModelDeployment causes
no write at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from canaria_operator.api.model import GROUP, KIND, VERSION, ModelDeployment
from canaria_operator.workloads.artifact import Artifact
from canaria_operator.workloads.names import (
    ANNOTATION_SPEC_HASH,
    ANNOTATION_TEMPLATE_HASH,
    deployment_name,
    router_labels,
    selector_labels,
    service_name,
    track_labels,
)
from canaria_operator.workloads.pod import pod_template
from canaria_serving import contract

__all__ = [
    "Scale",
    "VersionObjects",
    "build_version",
    "meta",
    "model_service",
    "owner_reference",
    "spec_hash",
    "stamp",
    "track_service",
]

Json = dict[str, Any]


def owner_reference(md: ModelDeployment) -> Json:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": md.name,
        "uid": md.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def spec_hash(obj: Json) -> str:
    """Digest of an object as the operator wants it (without the hash annotation itself)."""
    meta = dict(obj.get("metadata") or {})
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != ANNOTATION_SPEC_HASH
    }
    canonical = {**obj, "metadata": {**meta, "annotations": annotations}}
    raw = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def stamp(obj: Json) -> Json:
    """Set the spec-hash annotation (objects must have ``metadata.annotations``)."""
    return _stamp(obj)


def _stamp(obj: Json) -> Json:
    obj["metadata"].setdefault("annotations", {})[ANNOTATION_SPEC_HASH] = spec_hash(obj)
    return obj


def meta(md: ModelDeployment, name: str, labels: dict[str, str]) -> Json:
    return _meta(md, name, labels)


def _meta(md: ModelDeployment, name: str, labels: dict[str, str]) -> Json:
    return {
        "name": name,
        "namespace": md.namespace,
        "labels": dict(labels),
        "annotations": {},
        "ownerReferences": [owner_reference(md)],
    }


@dataclass(frozen=True)
class Scale:
    """Pods of one version: a fixed count (``low == high``, no autoscaler) or the bounds of its
    HorizontalPodAutoscaler (``autoscaled``; at least one pod)."""

    low: int
    high: int
    autoscaled: bool = False

    @classmethod
    def fixed(cls, replicas: int) -> Scale:
        return cls(replicas, replicas)

    @classmethod
    def auto(cls, low: int, high: int) -> Scale:
        """Autoscaler bounds; no pods at all is a fixed 0 (an HPA cannot scale to zero)."""
        if high <= 0:
            return cls.fixed(0)
        return cls(max(low, 1), max(high, low, 1), autoscaled=True)

    @classmethod
    def of(cls, md: ModelDeployment) -> Scale:
        """What spec.serving asks for, per version."""
        scaling = md.spec.serving.autoscaling
        if scaling is not None:
            return cls.auto(scaling.min_replicas, scaling.max_replicas)
        return cls.fixed(md.spec.serving.fixed_replicas)


@dataclass(frozen=True)
class VersionObjects:
    """What one model version consists of; ``hpa`` only when its scale is autoscaled."""

    deployment: Json
    hpa: Json | None

    def all(self) -> list[Json]:
        return [o for o in (self.deployment, self.hpa) if o is not None]


def _retirement_env(md: ModelDeployment) -> list[Json]:
    """The serving container's Deprecation/Sunset settings while spec.retire is set."""
    retire = md.spec.retire
    if retire is None:
        return []
    env = [{"name": contract.ENV_SUNSET, "value": retire.at.isoformat()}]
    if retire.deprecated_at is not None:
        value = retire.deprecated_at.isoformat()
        env.append({"name": contract.ENV_DEPRECATED_AT, "value": value})
    return env


def build_version(
    md: ModelDeployment,
    artifact: Artifact,
    *,
    born: str,
    role: str,
    image: str,
    pull_policy: str = "IfNotPresent",
    pod_annotations: dict[str, str] | None = None,
    scale: Scale | None = None,
) -> VersionObjects:
    """The Deployment (and HPA) of one version. ``born`` is the role the version was created
    for (it goes into the pod template and never changes, so a promotion rolls no pod);
    ``role`` is the role it holds now (a label on the Deployment only). ``scale``: its pods
    (default: what spec.serving asks for; the traffic mode Replicas sizes them by weight)."""
    serving = md.spec.serving
    scale = scale or Scale.of(md)
    name = deployment_name(md.name, artifact.version)
    template = pod_template(
        model_name=md.model_name,
        track=born,
        artifact=artifact,
        serving=serving,
        labels=track_labels(md.name, born, artifact.version),
        image=image,
        pull_policy=pull_policy,
        annotations=pod_annotations,
        extra_env=_retirement_env(md),
    )
    deploy_spec: Json = {
        "selector": {"matchLabels": selector_labels(md.name, artifact.version)},
        "template": template,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": 600,
    }
    if not scale.autoscaled:
        deploy_spec["replicas"] = scale.low
    labels = track_labels(md.name, role, artifact.version)
    metadata = _meta(md, name, labels)
    raw = json.dumps([template, deploy_spec.get("replicas")], sort_keys=True, separators=(",", ":"))
    metadata["annotations"][ANNOTATION_TEMPLATE_HASH] = hashlib.sha256(raw.encode()).hexdigest()[
        :16
    ]
    deployment = _stamp(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": deploy_spec}
    )
    return VersionObjects(deployment, _hpa(md, name, labels, scale))


def _service(md: ModelDeployment, name: str, labels: Json, selector: Json, headless: bool) -> Json:
    return _stamp(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(md, name, labels),
            "spec": {
                "type": "ClusterIP",
                **({"clusterIP": "None"} if headless else {}),
                "selector": selector,
                "ports": [
                    {
                        "name": "http",
                        "port": contract.SERVING_PORT,
                        "targetPort": "http",
                        "protocol": "TCP",
                    }
                ],
            },
        }
    )


def track_service(md: ModelDeployment, track: str, version: str, *, headless: bool) -> Json:
    """``<md>-<track>``: the pods of the version that holds the role now (its selector moves
    with a promotion; used by Gateway API backendRefs and for direct access)."""
    labels = track_labels(md.name, track, version)
    selector = selector_labels(md.name, version)
    return _service(md, service_name(md.name, track), labels, selector, headless)


def model_service(md: ModelDeployment, selector: Json, *, headless: bool) -> Json:
    """``<md>``: the model's address for clients (the router, or every serving pod)."""
    labels = {k: v for k, v in router_labels(md.name).items() if k != contract.LABEL_COMPONENT}
    return _service(md, md.name, labels, selector, headless)


def _hpa(md: ModelDeployment, name: str, labels: dict[str, str], scale: Scale) -> Json | None:
    scaling = md.spec.serving.autoscaling
    if scaling is None or not scale.autoscaled:
        return None
    return _stamp(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(md, name, labels),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": scale.low,
                "maxReplicas": scale.high,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": scaling.target_cpu_utilization_percentage,
                            },
                        },
                    }
                ],
            },
        }
    )
