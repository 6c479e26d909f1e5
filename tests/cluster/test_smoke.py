"""Smoke tests of the dev cluster itself: real apiserver, controllers, kwok, kubectl, helm."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from .kube import apply, attempt, is_ready, kubectl_json, new_namespace, run, wait_for

pytestmark = pytest.mark.cluster

POD_NET = ipaddress.ip_network("127.1.0.0/16")


def test_version_stamp_and_fake_nodes(dev_cluster: Any) -> None:
    version = json.loads(run(dev_cluster, "kubectl", "version", "-o", "json"))
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"
    nodes = kubectl_json(dev_cluster, "get", "nodes")["items"]
    assert len(nodes) >= 3
    for node in nodes:
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
        assert is_ready(node)


def test_rbac_is_enforced_for_service_accounts(dev_cluster: Any) -> None:
    who = "--as=system:serviceaccount:default:default"
    denied = attempt(dev_cluster, "kubectl", "get", "secrets", "-n", "kube-system", who)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    admin = attempt(dev_cluster, "kubectl", "get", "secrets", "-n", "kube-system")
    assert admin.returncode == 0, admin.stderr


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
            },
        },
    }


def test_deployment_gets_ready_pods_and_is_garbage_collected(dev_cluster: Any) -> None:
    ns = new_namespace(dev_cluster, "deploy")
    manifest = _deployment("web", 3)
    manifest["metadata"]["namespace"] = ns
    apply(dev_cluster, manifest)

    def ready_pods() -> list[dict[str, Any]] | None:
        pods = kubectl_json(dev_cluster, "get", "pods", "-n", ns, "-l", "app=web")["items"]
        ok = [p for p in pods if is_ready(p) and p["status"].get("phase") == "Running"]
        return ok if len(ok) == 3 else None

    pods = wait_for("3 Running/Ready pods", ready_pods, timeout=90)
    for pod in pods:
        assert pod["spec"]["nodeName"].startswith("kwok-node-")
        assert ipaddress.ip_address(pod["status"]["podIP"]) in POD_NET
    assert len({p["status"]["podIP"] for p in pods}) == 3

    run(dev_cluster, "kubectl", "delete", "deployment", "web", "-n", ns, "--wait=false")

    def all_gone() -> bool:
        rs = kubectl_json(dev_cluster, "get", "replicasets", "-n", ns)["items"]
        left = kubectl_json(dev_cluster, "get", "pods", "-n", ns)["items"]
        return not rs and not left

    wait_for("the ReplicaSet and pods to be garbage-collected", all_gone, timeout=90)
    run(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


def test_helm_installs_and_uninstalls_a_chart(dev_cluster: Any, tmp_path: Path) -> None:
    chart = tmp_path / "hello"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: hello\nversion: 0.1.0\nkubeVersion: '>=1.30.0-0'\n"
    )
    (chart / "values.yaml").write_text("greeting: hi\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    ns = new_namespace(dev_cluster, "helm")
    run(dev_cluster, "helm", "install", "demo", str(chart), "-n", ns, "--set", "greeting=hello")
    cm = kubectl_json(dev_cluster, "get", "configmap", "demo-cm", "-n", ns)
    assert cm["data"] == {"greeting": "hello"}
    releases = json.loads(run(dev_cluster, "helm", "list", "-n", ns, "-o", "json"))
    assert [r["name"] for r in releases] == ["demo"]
    run(dev_cluster, "helm", "uninstall", "demo", "-n", ns)
    gone = run(dev_cluster, "kubectl", "get", "configmaps", "-n", ns, "-o", "name")
    assert "demo-cm" not in gone
    run(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


def test_prometheus_discovers_pods_and_knows_the_operator_endpoint(dev_cluster: Any) -> None:
    resp = httpx.get(f"{dev_cluster.prometheus_url}/api/v1/targets", timeout=5)
    resp.raise_for_status()
    data = resp.json()["data"]
    jobs = {t["labels"]["job"]: t["scrapeUrl"] for t in data["activeTargets"]}
    assert jobs.get("canaria-operator") == "http://127.0.0.1:8000/metrics"
    config = httpx.get(f"{dev_cluster.prometheus_url}/api/v1/status/config", timeout=5).json()
    assert "role: pod" in config["data"]["yaml"]
