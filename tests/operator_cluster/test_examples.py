"""Every example manifest, applied for real to the dev cluster with the operator running.

The examples' models live on a PVC: a hostPath PersistentVolume pre-bound to the claim
`models` stands in for the storage they expect, holding a real model at each path. The pods run
on the real node, so each example is accepted, served (Ready) and has the traffic objects its
router mode calls for."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.kube import run, wait_for
from tests.operator_cluster.support import OperatorProcess, get, owned, phase_is, wait_md

pytestmark = pytest.mark.cluster
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"


MODEL = Path(__file__).resolve().parents[2] / "examples" / "models" / "iris-v1.onnx"


def _volume(paths: list[str]) -> Path:
    """A folder the pods' user (65532) can read, with the model at every claim path."""
    root = Path(tempfile.mkdtemp(prefix="canaria-pv-"))
    root.chmod(0o755)
    for rel in paths:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        shutil.copyfile(MODEL, target)
        target.chmod(0o644)
    for folder in root.rglob("*"):
        if folder.is_dir():
            folder.chmod(0o755)
    return root


def _storage(cluster: Any, namespace: str, tmp_path: Path) -> None:
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"models-{namespace}"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "hostPath": {"path": str(tmp_path)},
            "claimRef": {"namespace": namespace, "name": "models"},
        },
    }
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "models", "namespace": namespace},
        "spec": {
            "accessModes": ["ReadOnlyMany"],
            "storageClassName": "",
            "volumeName": f"models-{namespace}",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    for obj in (pv, pvc):
        run(cluster, "kubectl", "apply", "-f", "-", stdin=json.dumps(obj))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_every_example_is_served(crds: Any, namespace: str, operator: OperatorProcess) -> None:
    paths = sorted(EXAMPLES.glob("*.yaml"))
    docs = [doc for path in paths for doc in _documents(path)]
    claim_paths = [
        d["spec"]["model"]["uri"].removeprefix("pvc://models/")
        for d in docs
        if d["kind"] == "ModelDeployment"
    ]
    volume = _volume(claim_paths)
    _storage(crds, namespace, volume)
    models = []
    for path in paths:
        for doc in _documents(path):
            run(crds, "kubectl", "apply", "-n", namespace, "-f", "-", stdin=json.dumps(doc))
            if doc["kind"] == "ModelDeployment":
                models.append(doc)
    assert {m["spec"]["rollout"]["strategy"] for m in models} >= {"Canary", "BlueGreen", "Shadow"}
    for doc in models:
        name = doc["metadata"]["name"]
        md = wait_md(crds, namespace, name, "Ready", phase_is("Ready"), timeout=180)
        assert md["status"]["stable"]["version"] == str(doc["spec"]["model"]["version"])
        (dep,) = owned(crds, namespace, "deployment", name)
        serving = doc["spec"].get("serving") or {}
        scaling = serving.get("autoscaling")
        if scaling is None:
            assert dep["spec"]["replicas"] == serving.get("replicas", 1)
        else:  # the HPA owns the count: at its next sync (15 s) it lifts it to its minimum
            dep_name = dep["metadata"]["name"]
            hpa = get(crds, namespace, "hpa", dep_name)
            assert hpa is not None
            low, high = scaling.get("minReplicas", 1), scaling["maxReplicas"]
            assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (low, high)

            def scaled(dep_name: str = dep_name, low: int = low, high: int = high) -> bool:
                replicas = (get(crds, namespace, "deployment", dep_name) or {})["spec"]["replicas"]
                return bool(low <= replicas <= high)

            wait_for(f"{dep_name} scaled by its HPA into [{low}, {high}]", scaled, timeout=90)
        router = doc["spec"]["rollout"]["traffic"]["router"]
        routers = owned(crds, namespace, "deployment", name, component="router")
        if router == "Builtin":
            assert [d["metadata"]["name"] for d in routers] == [f"{name}-router"]
            assert get(crds, namespace, "service", name) is not None
        else:
            assert routers == []
        if router == "GatewayAPI":
            ref = doc["spec"]["rollout"]["traffic"]["httpRouteRef"]["name"]
            want = [(f"{name}-stable", 100)]
            wait_for(
                f"HTTPRoute {ref} weighted",
                lambda ref=ref, want=want: _weights(crds, namespace, ref) == want,
                timeout=20,
            )


def _weights(cluster: Any, namespace: str, route_name: str) -> list[tuple[str, Any]]:
    route = get(cluster, namespace, "httproute", route_name)
    refs = (route or {}).get("spec", {}).get("rules", [{}])[0].get("backendRefs")
    return [(r["name"], r.get("weight")) for r in refs or []]
