"""Pure builders of the objects a ModelDeployment owns (no I/O)."""

from canaria_operator.workloads.artifact import Artifact, storage_kind
from canaria_operator.workloads.names import (
    ANNOTATION_SPEC_HASH,
    deployment_name,
    selector_labels,
    service_name,
    track_labels,
)
from canaria_operator.workloads.objects import TrackObjects, build_track, owner_reference, spec_hash
from canaria_operator.workloads.pod import MODEL_FILE, pod_template

__all__ = [
    "ANNOTATION_SPEC_HASH",
    "MODEL_FILE",
    "Artifact",
    "TrackObjects",
    "build_track",
    "deployment_name",
    "owner_reference",
    "pod_template",
    "selector_labels",
    "service_name",
    "spec_hash",
    "storage_kind",
    "track_labels",
]
