"""Builders of the router's objects: ServiceAccount, Role, RoleBinding and Deployment, all named
``<md>-router`` (pure). The router is the proxy process ``canaria route``
(:mod:`canaria_operator.router`); only traffic mode Builtin deploys it.

The router watches the model's pods and its ModelDeployment, so its Role grants exactly
list/watch on those two resources in the namespace, nothing else.
"""

from __future__ import annotations

from typing import Any

from canaria_operator.api.model import GROUP, PLURAL, ModelDeployment
from canaria_operator.workloads.names import router_labels, router_name
from canaria_operator.workloads.objects import meta, stamp
from canaria_operator.workloads.pod import PRESTOP_SECONDS, container_security, http_probe
from canaria_serving import contract

__all__ = ["ROUTER_RULES", "router_objects"]

Json = dict[str, Any]

ROUTER_RULES: list[Json] = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
    {"apiGroups": [GROUP], "resources": [PLURAL], "verbs": ["list", "watch"]},
]
_RESOURCES: Json = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}


def _container(md: ModelDeployment, image: str, pull_policy: str) -> Json:
    args = ["route", "--kubernetes", "--model", md.name, "--namespace", md.namespace]
    args += ["--log-format", "json"]
    sticky = md.spec.rollout.traffic.sticky_header
    if sticky:
        args += ["--sticky-header", sticky]
    return {
        "name": "router",
        "image": image,
        "imagePullPolicy": pull_policy,
        "command": ["canaria"],
        "args": args,
        "env": [
            {"name": contract.ENV_HOST, "value": "0.0.0.0"},  # pod IP and 127.0.0.1 alike
            {"name": contract.ENV_PORT, "value": str(contract.ROUTER_PORT)},
        ],
        "ports": [{"name": "http", "containerPort": contract.ROUTER_PORT, "protocol": "TCP"}],
        "readinessProbe": http_probe(contract.PATH_READY, 2, 2),
        # Before SIGTERM: time for the Service's endpoints (kube-proxy) to drop this replica,
        # so no new connection reaches it while it drains.
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "livenessProbe": http_probe(contract.PATH_LIVE, 10, 3),
        "resources": _RESOURCES,
        "securityContext": container_security(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def router_objects(
    md: ModelDeployment,
    *,
    image: str,
    pull_policy: str = "IfNotPresent",
    replicas: int = 1,
    pod_annotations: dict[str, str] | None = None,
) -> list[Json]:
    """ServiceAccount, Role, RoleBinding and Deployment of the model's router."""
    name, labels = router_name(md.name), router_labels(md.name)
    account = stamp(
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(md, name, labels)}
    )
    role = stamp(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(md, name, labels),
            "rules": ROUTER_RULES,
        }
    )
    binding = stamp(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(md, name, labels),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": md.namespace}],
        }
    )
    template: Json = {
        "metadata": {
            "labels": dict(labels),
            "annotations": {
                contract.ANNOTATION_SCRAPE: "true",
                contract.ANNOTATION_SCRAPE_PORT: str(contract.ROUTER_PORT),
                contract.ANNOTATION_SCRAPE_PATH: contract.PATH_METRICS,
                **(pod_annotations or {}),
            },
        },
        "spec": {
            "serviceAccountName": name,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": contract.RUN_AS_UID,
                "runAsGroup": contract.RUN_AS_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            # preStop sleep, then up to 10 s of draining (canaria route's default)
            "terminationGracePeriodSeconds": 40,
            "containers": [_container(md, md.spec.serving.image or image, pull_policy)],
        },
    }
    deployment = stamp(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(md, name, labels),
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": template,
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
                },
                "revisionHistoryLimit": 3,
            },
        }
    )
    objects = [account, role, binding, deployment]
    if replicas >= 2:
        # voluntary evictions (node drains, cluster upgrades) leave one router serving
        budget = {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta(md, name, labels),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": dict(labels)}},
        }
        objects.append(stamp(budget))
    return objects
