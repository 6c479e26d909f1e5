"""REST paths of the resources the operator reads and writes."""

from __future__ import annotations

from dataclasses import dataclass

from canaria_operator.api.model import GROUP, PLURAL, VERSION

__all__ = [
    "DEPLOYMENTS",
    "EVENTS",
    "HPAS",
    "HTTPROUTES",
    "JOBS",
    "MODELDEPLOYMENTS",
    "PODS",
    "ROLEBINDINGS",
    "ROLES",
    "SECRETS",
    "SERVICEACCOUNTS",
    "SERVICES",
    "Resource",
    "resource_for",
]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str

    def path(self, namespace: str | None = None, name: str | None = None, sub: str = "") -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
        if sub:
            base += f"/{sub}"
        return base


MODELDEPLOYMENTS = Resource(GROUP, VERSION, PLURAL)
DEPLOYMENTS = Resource("apps", "v1", "deployments")
HPAS = Resource("autoscaling", "v2", "horizontalpodautoscalers")
PDBS = Resource("policy", "v1", "poddisruptionbudgets")
SERVICES = Resource("", "v1", "services")
PODS = Resource("", "v1", "pods")
SECRETS = Resource("", "v1", "secrets")
EVENTS = Resource("events.k8s.io", "v1", "events")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles")
ROLEBINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings")
HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes")
JOBS = Resource("batch", "v1", "jobs")

_BY_KIND = {
    ("apps/v1", "Deployment"): DEPLOYMENTS,
    ("v1", "Service"): SERVICES,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): HPAS,
    ("policy/v1", "PodDisruptionBudget"): PDBS,
    ("v1", "ServiceAccount"): SERVICEACCOUNTS,
    ("rbac.authorization.k8s.io/v1", "Role"): ROLES,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): ROLEBINDINGS,
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTPROUTES,
    ("batch/v1", "Job"): JOBS,
}


def resource_for(obj: dict[str, object]) -> Resource:
    return _BY_KIND[(str(obj["apiVersion"]), str(obj["kind"]))]
