"""The local pod runner: Canaria pods run as real `canaria` processes on their pod IPs."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from onnx import TensorProto, helper

from .kube import apply, is_ready, kubectl_json, new_namespace, pod_when, run, wait_for

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/canaria/canaria:dev"
_ENDED = ("Succeeded", "Failed")


def _tiny_model(path: Path) -> None:
    """y = x + 1 on float rows of 2 features."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [2], [1.0, 1.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "failureThreshold": failures,
    }


def _serving_pod(name: str, model_dir: Path, ready_path: str = "/readyz") -> dict[str, Any]:
    """A pod shaped like the operator's: model copied by an init container into an emptyDir."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app": name},
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "8080",
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "volumes": [
                {"name": "src", "hostPath": {"path": str(model_dir)}},
                {"name": "models", "emptyDir": {}},
            ],
            "initContainers": [
                {
                    "name": "copy-model",
                    "image": IMAGE,
                    "command": ["python", "-c"],
                    "args": ["import shutil; shutil.copy('/src/model.onnx', '/models/tiny.onnx')"],
                    "volumeMounts": [
                        {"name": "src", "mountPath": "/src"},
                        {"name": "models", "mountPath": "/models"},
                    ],
                }
            ],
            "containers": [
                {
                    "name": "serve",
                    "image": IMAGE,
                    "args": ["serve", "/models/tiny.onnx", "--name", "tiny", "--host", "0.0.0.0"],
                    "env": [
                        {"name": "CANARIA_PORT", "value": "8080"},
                        {"name": "CANARIA_MODEL_VERSION", "value": "3"},
                        {"name": "CANARIA_TRACK", "value": "canary"},
                    ],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    # The probes the operator gives its serving pods.
                    "startupProbe": _probe("/readyz", 2, 150),
                    "readinessProbe": _probe(ready_path, 5, 2),
                    "livenessProbe": _probe("/healthz", 10, 3),
                    "volumeMounts": [{"name": "models", "mountPath": "/models"}],
                }
            ],
        },
    }


def _pod(cluster: Any, ns: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = kubectl_json(cluster, "get", "pod", name, "-n", ns)
    return result


def _prom_query(url: str, query: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=5)
    resp.raise_for_status()
    result: list[dict[str, Any]] = resp.json()["data"]["result"]
    return result


@pytest.fixture
def namespace(dev_cluster: Any) -> Any:
    ns = new_namespace(dev_cluster, "runner")
    yield ns
    run(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


def test_runner_pod_serves_on_its_ip_and_prometheus_scrapes_it(
    dev_cluster: Any, namespace: str, tmp_path: Path
) -> None:
    _tiny_model(tmp_path / "model.onnx")
    manifest = _serving_pod("tiny", tmp_path)
    manifest["metadata"]["namespace"] = namespace
    apply(dev_cluster, manifest)

    pod = wait_for(
        "the runner pod to be Ready", pod_when(dev_cluster, namespace, "tiny", is_ready), 120
    )
    ip = pod["status"]["podIP"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.1.0.0/16")
    init = pod["status"]["initContainerStatuses"][0]
    assert init["state"]["terminated"]["exitCode"] == 0
    assert pod["status"]["containerStatuses"][0]["ready"] is True

    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.0, 2.0]}]}
    resp = httpx.post(f"http://{ip}:8080/v2/models/tiny/infer", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["outputs"][0]["data"] == [2.0, 3.0]

    query = f'canaria_model_ready{{namespace="{namespace}", pod="tiny"}}'
    samples = wait_for(
        "Prometheus to scrape the pod", lambda: _prom_query(dev_cluster.prometheus_url, query)
    )
    labels = samples[0]["metric"]
    assert (labels["model"], labels["version"], labels["track"]) == ("tiny", "3", "canary")
    assert labels["job"] == "kubernetes-pods"
    assert float(samples[0]["value"][1]) == 1.0

    run(dev_cluster, "kubectl", "delete", "pod", "tiny", "-n", namespace, "--wait=true")

    def stopped() -> bool:
        try:
            httpx.get(f"http://{ip}:8080/healthz", timeout=1)
        except httpx.TransportError:
            return True
        return False

    wait_for("the pod's process to stop", stopped, timeout=30)


def test_a_pod_whose_process_exits_is_not_ready_and_restarts(
    dev_cluster: Any, namespace: str
) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "crash", "namespace": namespace},
        "spec": {"containers": [{"name": "main", "image": IMAGE, "args": ["no-such-command"]}]},
    }
    apply(dev_cluster, manifest)
    # Without a readiness probe a container is Ready while it runs (as with a kubelet), but
    # never once its process has exited.
    exited_but_ready: list[dict[str, Any]] = []

    def restarted() -> dict[str, Any] | None:
        pod = _pod(dev_cluster, namespace, "crash")
        statuses = pod["status"].get("containerStatuses") or []
        if statuses and "running" not in statuses[0]["state"] and is_ready(pod):
            exited_but_ready.append(pod["status"])
        return statuses[0] if statuses and statuses[0]["restartCount"] >= 2 else None

    status = wait_for("two restarts", restarted, timeout=60)
    assert exited_but_ready == []
    assert status["ready"] is False
    assert status["lastState"]["terminated"]["exitCode"] == 2
    assert "waiting" in status["state"] or "running" in status["state"]


def test_readiness_follows_the_probe_not_the_process(
    dev_cluster: Any, namespace: str, tmp_path: Path
) -> None:
    _tiny_model(tmp_path / "model.onnx")
    manifest = _serving_pod("unready", tmp_path, ready_path="/no-such-path")
    manifest["metadata"]["namespace"] = namespace
    apply(dev_cluster, manifest)

    def serving() -> dict[str, Any] | None:
        pod = _pod(dev_cluster, namespace, "unready")
        ip = pod["status"].get("podIP")
        if not ip:
            return None
        try:
            ok = httpx.get(f"http://{ip}:8080/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return None
        return pod if ok else None

    wait_for("the process to serve", serving, timeout=120)
    pod = _pod(dev_cluster, namespace, "unready")
    status = pod["status"]["containerStatuses"][0]
    assert "running" in status["state"]
    assert not is_ready(pod)
    assert status["ready"] is False
    events = json.dumps(pod["status"]["conditions"])
    assert "ContainersNotReady" in events


_SA_SCRIPT = """
import base64, json, os, ssl, urllib.error, urllib.request
import yaml
cfg = yaml.safe_load(open(os.environ["KUBECONFIG"]))
server = cfg["clusters"][0]["cluster"]["server"]
ca = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
token = cfg["users"][0]["user"]["token"]
ctx = ssl.create_default_context(cadata=ca)
def code(path):
    req = urllib.request.Request(server + path, headers={"Authorization": "Bearer " + token})
    try:
        return urllib.request.urlopen(req, context=ctx).status
    except urllib.error.HTTPError as exc:
        return exc.code
ns = os.environ["NS"]
result = {"pods": code(f"/api/v1/namespaces/{ns}/pods"),
          "secrets": code(f"/api/v1/namespaces/{ns}/secrets")}
json.dump(result, open("/out/result.json", "w"))
"""


def test_runner_pods_use_their_service_account_under_rbac(
    dev_cluster: Any, namespace: str, tmp_path: Path
) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "pod-reader", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "pod-reader", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": namespace}],
    }
    apply(dev_cluster, role)
    apply(dev_cluster, binding)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "whoami", "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "out", "hostPath": {"path": str(tmp_path)}}],
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "command": ["python", "-c", _SA_SCRIPT],
                    "env": [
                        {
                            "name": "NS",
                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                        }
                    ],
                    "volumeMounts": [{"name": "out", "mountPath": "/out"}],
                }
            ],
        },
    }
    apply(dev_cluster, pod)
    done = wait_for(
        "the pod to finish",
        pod_when(dev_cluster, namespace, "whoami", lambda p: p["status"].get("phase") in _ENDED),
        timeout=60,
    )
    assert done["status"]["phase"] == "Succeeded"
    assert json.loads((tmp_path / "result.json").read_text()) == {"pods": 200, "secrets": 403}


_CFG_SCRIPT = (
    "import os, time; "
    "seen = os.environ['GREETING'] + '|' + open('/etc/cfg/GREETING').read(); "
    "open('/out/seen', 'w').write(seen); "
    "time.sleep(600)"
)


def test_a_missing_configmap_blocks_the_pod_until_it_exists(
    dev_cluster: Any, namespace: str, tmp_path: Path
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "cfg", "namespace": namespace},
        "spec": {
            "volumes": [
                {"name": "cfg", "configMap": {"name": "settings"}},
                {"name": "out", "hostPath": {"path": str(tmp_path)}},
            ],
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "command": ["python", "-c", _CFG_SCRIPT],
                    "envFrom": [{"configMapRef": {"name": "settings"}}],
                    "volumeMounts": [
                        {"name": "cfg", "mountPath": "/etc/cfg"},
                        {"name": "out", "mountPath": "/out"},
                    ],
                }
            ],
        },
    }
    apply(dev_cluster, pod)

    def waiting_reason(p: dict[str, Any]) -> bool:
        statuses = p["status"].get("containerStatuses") or []
        waiting = statuses[0]["state"].get("waiting", {}) if statuses else {}
        return waiting.get("reason") == "CreateContainerConfigError"

    blocked = wait_for(
        "CreateContainerConfigError", pod_when(dev_cluster, namespace, "cfg", waiting_reason)
    )
    assert not is_ready(blocked)
    assert "settings" in blocked["status"]["containerStatuses"][0]["state"]["waiting"]["message"]

    run(
        dev_cluster,
        "kubectl",
        "create",
        "configmap",
        "settings",
        "-n",
        namespace,
        "--from-literal=GREETING=hello",
    )
    wait_for("the pod to be Ready", pod_when(dev_cluster, namespace, "cfg", is_ready))
    seen = tmp_path / "seen"
    wait_for("the process to see the ConfigMap", lambda: seen.exists() and seen.read_text())
    assert seen.read_text() == "hello|hello"


def test_a_claim_bound_to_a_host_path_volume_is_that_folder(
    dev_cluster: Any, namespace: str, tmp_path: Path
) -> None:
    _tiny_model(tmp_path / "models" / "m.onnx")
    pv_name = f"pv-{namespace}"
    apply(
        dev_cluster,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "hostPath": {"path": str(tmp_path / "models")},
                "claimRef": {"namespace": namespace, "name": "models"},
            },
        },
    )
    apply(
        dev_cluster,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "models", "namespace": namespace},
            "spec": {
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "volumeName": pv_name,
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "pvc", "namespace": namespace},
        "spec": {
            "volumes": [{"name": "m", "persistentVolumeClaim": {"claimName": "models"}}],
            "containers": [
                {
                    "name": "serve",
                    "image": IMAGE,
                    "args": ["serve", "/models/pvc/m.onnx", "--port", "8080"],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": _probe("/readyz", 5, 2),
                    "volumeMounts": [{"name": "m", "mountPath": "/models/pvc", "readOnly": True}],
                }
            ],
        },
    }
    try:
        apply(dev_cluster, pod)
        ready = wait_for("the pod to be Ready", pod_when(dev_cluster, namespace, "pvc", is_ready))
        resp = httpx.get(f"http://{ready['status']['podIP']}:8080/v2/models/m", timeout=5)
        assert resp.status_code == 200, resp.text
    finally:
        run(dev_cluster, "kubectl", "delete", "pod", "pvc", "-n", namespace, "--wait=true")
        run(dev_cluster, "kubectl", "delete", "pv", pv_name, "--wait=false")
