"""Pure builders of the objects a ModelDeployment owns (no I/O)."""

from canaria_operator.workloads.artifact import Artifact, storage_kind
from canaria_operator.workloads.names import (
    ANNOTATION_SPEC_HASH,
    deployment_name,
    router_name,
    selector_labels,
    service_name,
    track_labels,
    version_slug,
)
from canaria_operator.workloads.objects import (
    Scale,
    VersionObjects,
    build_version,
    model_service,
    owner_reference,
    spec_hash,
    track_service,
)
from canaria_operator.workloads.pod import MODEL_FILE, pod_template
from canaria_operator.workloads.router_objects import router_objects

__all__ = [
    "ANNOTATION_SPEC_HASH",
    "MODEL_FILE",
    "Artifact",
    "Scale",
    "VersionObjects",
    "build_version",
    "deployment_name",
    "model_service",
    "owner_reference",
    "pod_template",
    "router_name",
    "router_objects",
    "selector_labels",
    "service_name",
    "spec_hash",
    "storage_kind",
    "track_labels",
    "track_service",
    "version_slug",
]
