"""Deployment, Service and HorizontalPodAutoscaler of one track (pure builders).

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
    deployment_name,
    selector_labels,
    service_name,
    track_labels,
)
from canaria_operator.workloads.pod import pod_template
from canaria_serving import contract

__all__ = [
    "TrackObjects",
    "build_track",
    "owner_reference",
    "spec_hash",
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


def _stamp(obj: Json) -> Json:
    obj["metadata"].setdefault("annotations", {})[ANNOTATION_SPEC_HASH] = spec_hash(obj)
    return obj


def _meta(md: ModelDeployment, name: str, labels: dict[str, str]) -> Json:
    return {
        "name": name,
        "namespace": md.namespace,
        "labels": dict(labels),
        "annotations": {},
        "ownerReferences": [owner_reference(md)],
    }


@dataclass(frozen=True)
class TrackObjects:
    """What one track consists of; ``hpa`` only when spec.serving.autoscaling is set."""

    deployment: Json
    service: Json
    hpa: Json | None

    def all(self) -> list[Json]:
        return [o for o in (self.deployment, self.service, self.hpa) if o is not None]


def build_track(
    md: ModelDeployment,
    track: str,
    artifact: Artifact,
    *,
    image: str,
    pull_policy: str = "IfNotPresent",
    pod_annotations: dict[str, str] | None = None,
    replicas: int | None = None,
    headless: bool = False,
) -> TrackObjects:
    """Objects of ``track`` running ``artifact``; ``replicas`` overrides the spec's count
    (the rollout engine sizes a canary; ignored when autoscaled)."""
    serving = md.spec.serving
    labels = track_labels(md.name, track, artifact.version)
    name = deployment_name(md.name, track)
    template = pod_template(
        model_name=md.model_name,
        track=track,
        artifact=artifact,
        serving=serving,
        labels=labels,
        image=image,
        pull_policy=pull_policy,
        annotations=pod_annotations,
    )
    deploy_spec: Json = {
        "selector": {"matchLabels": selector_labels(md.name, track)},
        "template": template,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 3,
        "progressDeadlineSeconds": 600,
    }
    if serving.autoscaling is None:
        deploy_spec["replicas"] = serving.fixed_replicas if replicas is None else replicas
    deployment = _stamp(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(md, name, labels),
            "spec": deploy_spec,
        }
    )
    service = _stamp(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(md, service_name(md.name, track), labels),
            "spec": {
                "type": "ClusterIP",
                **({"clusterIP": "None"} if headless else {}),
                "selector": selector_labels(md.name, track),
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
    return TrackObjects(deployment, service, _hpa(md, name, labels))


def _hpa(md: ModelDeployment, name: str, labels: dict[str, str]) -> Json | None:
    scaling = md.spec.serving.autoscaling
    if scaling is None:
        return None
    return _stamp(
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": _meta(md, name, labels),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": scaling.min_replicas,
                "maxReplicas": scaling.max_replicas,
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
