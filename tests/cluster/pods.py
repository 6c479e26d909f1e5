"""Pod manifests for tests on the real node (they meet the Restricted Pod Security Standard)."""

from __future__ import annotations

from typing import Any

RUN_AS = 65532


def restricted_container(name: str, image: str, args: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Never",
        "args": args,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "models", "mountPath": "/models"},
        ],
    }


def serving_pod(namespace: str, name: str, image: str, model_url: str) -> dict[str, Any]:
    """`canaria fetch` (init container) then `canaria serve` on 0.0.0.0:8080, scraped by
    Prometheus through the usual annotations."""
    serve = restricted_container(
        "serve", image, ["serve", "/models/model.onnx", "--host", "0.0.0.0", "--port", "8080"]
    )
    serve["ports"] = [{"name": "http", "containerPort": 8080}]
    serve["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 1}
    fetch_args = ["fetch", model_url, "--dest", "/models/model.onnx"]
    fetch = restricted_container("fetch", image, fetch_args)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name},
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "8080",
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": RUN_AS,
                "runAsGroup": RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "initContainers": [fetch],
            "containers": [serve],
            "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "models", "emptyDir": {}}],
        },
    }
