"""Names and labels of the objects the operator creates (see canaria_serving.contract)."""

from __future__ import annotations

import hashlib
import re

from canaria_serving import contract

__all__ = [
    "ANNOTATION_PREFIX",
    "ANNOTATION_SPEC_HASH",
    "ANNOTATION_TEMPLATE_HASH",
    "COMPONENT_ACCEPTANCE",
    "COMPONENT_ROUTER",
    "COMPONENT_SERVING",
    "MANAGED_BY",
    "PART_OF",
    "acceptance_job_name",
    "deployment_name",
    "feedback_service_name",
    "router_labels",
    "router_name",
    "selector_labels",
    "service_name",
    "track_labels",
    "version_slug",
]

ANNOTATION_PREFIX = "canaria.dev"
ANNOTATION_SPEC_HASH = f"{ANNOTATION_PREFIX}/spec-hash"
# Digest of a Deployment's pod template and replicas: changes only when its pods must change.
ANNOTATION_TEMPLATE_HASH = f"{ANNOTATION_PREFIX}/template-hash"
MANAGED_BY = "canaria-operator"
PART_OF = "canaria"
COMPONENT_SERVING = "serving"
COMPONENT_ROUTER = "router"
COMPONENT_ACCEPTANCE = "acceptance"
_MAX_NAME = 63
_SAFE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


def version_slug(md: str, version: str) -> str:
    """The DNS-label form of a version inside ``<md>-<slug>``: the version itself when it is
    already lower-case letters, digits and '-' and fits; otherwise a cleaned, shortened form
    with a digest of the exact version (``V1`` and ``v1`` never share a Deployment)."""
    if _SAFE.match(version) and len(md) + 1 + len(version) <= _MAX_NAME:
        return version
    digest = hashlib.sha256(version.encode()).hexdigest()[:6]
    clean = re.sub(r"[^a-z0-9-]+", "-", version.lower()).strip("-")
    room = max(_MAX_NAME - len(md) - 1 - len(digest) - 1, 1)
    clean = clean[:room].strip("-")
    return f"{clean}-{digest}" if clean else digest


def deployment_name(md: str, version: str) -> str:
    """``<md>-<version>``: one Deployment per model version, so a promotion only changes which
    version status calls stable (the pods stay as they are)."""
    return f"{md}-{version_slug(md, version)}"


def service_name(md: str, track: str) -> str:
    """``<md>-stable`` / ``<md>-canary``: selects the pods of the version holding the role."""
    return f"{md}-{track}"


def feedback_service_name(md: str) -> str:
    """``<md>-feedback``: a headless Service selecting every serving pod of the model (its DNS
    name lists their IPs: a feedback call's fan-out)."""
    return f"{md}-feedback"


def acceptance_job_name(md: str, attempt: str) -> str:
    """``<md>-acceptance-<attempt>`` (the name shortened to fit a label value, 63)."""
    return f"{md[: _MAX_NAME - 12 - len(attempt)]}-acceptance-{attempt}"


def router_name(md: str) -> str:
    return f"{md}-router"


def selector_labels(md: str, version: str) -> dict[str, str]:
    """Immutable Deployment selector: one version of one ModelDeployment."""
    return {
        contract.LABEL_MODEL: md,
        contract.LABEL_COMPONENT: COMPONENT_SERVING,
        contract.LABEL_VERSION: version,
    }


def track_labels(md: str, track: str, version: str) -> dict[str, str]:
    """All labels of a version's objects and pods; ``track`` is the role it was created for
    (pods keep it for their lifetime; status says which role the version holds now)."""
    return {
        contract.LABEL_NAME: PART_OF,
        contract.LABEL_INSTANCE: md,
        contract.LABEL_MANAGED_BY: MANAGED_BY,
        **selector_labels(md, version),
        contract.LABEL_TRACK: track,
    }


def router_labels(md: str) -> dict[str, str]:
    return {
        contract.LABEL_NAME: PART_OF,
        contract.LABEL_INSTANCE: md,
        contract.LABEL_MANAGED_BY: MANAGED_BY,
        contract.LABEL_MODEL: md,
        contract.LABEL_COMPONENT: COMPONENT_ROUTER,
    }
