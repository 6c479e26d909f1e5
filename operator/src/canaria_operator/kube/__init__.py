"""Talking to the Kubernetes API server (the only package that does)."""

from canaria_operator.kube.client import FIELD_MANAGER, Json, Kube
from canaria_operator.kube.errors import KubeError
from canaria_operator.kube.paths import (
    DEPLOYMENTS,
    EVENTS,
    HPAS,
    HTTPROUTES,
    JOBS,
    MODELDEPLOYMENTS,
    PDBS,
    PODS,
    ROLEBINDINGS,
    ROLES,
    SECRETS,
    SERVICEACCOUNTS,
    SERVICES,
    Resource,
    resource_for,
)

__all__ = [
    "DEPLOYMENTS",
    "EVENTS",
    "FIELD_MANAGER",
    "HPAS",
    "HTTPROUTES",
    "JOBS",
    "MODELDEPLOYMENTS",
    "PDBS",
    "PODS",
    "ROLEBINDINGS",
    "ROLES",
    "SECRETS",
    "SERVICEACCOUNTS",
    "SERVICES",
    "Json",
    "Kube",
    "KubeError",
    "Resource",
    "resource_for",
]
