"""Names and labels of the objects the operator creates (see canaria_serving.contract)."""

from __future__ import annotations

from canaria_serving import contract

__all__ = [
    "ANNOTATION_PREFIX",
    "ANNOTATION_SPEC_HASH",
    "COMPONENT_SERVING",
    "MANAGED_BY",
    "PART_OF",
    "deployment_name",
    "selector_labels",
    "service_name",
    "track_labels",
]

ANNOTATION_PREFIX = "canaria.dev"
ANNOTATION_SPEC_HASH = f"{ANNOTATION_PREFIX}/spec-hash"
MANAGED_BY = "canaria-operator"
PART_OF = "canaria"
COMPONENT_SERVING = "serving"


def deployment_name(md: str, track: str) -> str:
    """``<md>-<track>``; MD names are limited by the CRD so this stays a valid DNS label."""
    return f"{md}-{track}"


def service_name(md: str, track: str) -> str:
    return f"{md}-{track}"


def selector_labels(md: str, track: str) -> dict[str, str]:
    """Immutable Deployment selector: one track of one ModelDeployment."""
    return {
        contract.LABEL_MODEL: md,
        contract.LABEL_TRACK: track,
        contract.LABEL_COMPONENT: COMPONENT_SERVING,
    }


def track_labels(md: str, track: str, version: str) -> dict[str, str]:
    """All labels of a track's objects and pods."""
    return {
        contract.LABEL_NAME: PART_OF,
        contract.LABEL_INSTANCE: md,
        contract.LABEL_MANAGED_BY: MANAGED_BY,
        **selector_labels(md, track),
        contract.LABEL_VERSION: version,
    }
