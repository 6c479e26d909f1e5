"""A ModelDeployment served for real: the kubelet runs the operator's pod (the image built
here, `canaria fetch` then `canaria serve`), which answers Open Inference Protocol V2 on its
pod IP; fetch failures reach status."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from canaria_serving import contract
from tests.cluster.models import add_one_model  # y = x + 1, 2 floats
from tests.operator_cluster.support import (
    OperatorProcess,
    apply_md,
    condition,
    events,
    owned,
    phase_is,
    wait_md,
)

pytestmark = pytest.mark.cluster


@pytest.fixture
def served_model(model_store: Any, namespace: str, tmp_path: Path) -> tuple[str, str]:
    """The add-one model in the model store: (base URL, sha256)."""
    model = add_one_model(tmp_path / "add-one.onnx")
    url = model_store.publish(model, f"{namespace}/add-one.onnx")
    return url.rsplit("/", 1)[0], hashlib.sha256(model.read_bytes()).hexdigest()


def test_operator_pod_answers_v2_on_its_pod_ip(
    crds: Any, namespace: str, operator: OperatorProcess, served_model: tuple[str, str]
) -> None:
    base, digest = served_model
    model = {"uri": f"{base}/add-one.onnx", "version": "7", "name": "adder", "sha256": digest}
    spec = {"model": model}
    apply_md(crds, namespace, "adder", spec)
    md = wait_md(crds, namespace, "adder", "Ready", phase_is("Ready"), timeout=120)
    assert md["status"]["stable"]["readyReplicas"] == 1
    (pod,) = [p for p in owned(crds, namespace, "pod", "adder") if p["status"].get("podIP")]
    ip = pod["status"]["podIP"]
    assert pod["status"]["containerStatuses"][0]["containerID"].startswith("containerd://")
    body = {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    url = f"http://{ip}:{contract.SERVING_PORT}{contract.v2_infer_path('adder')}"
    resp = httpx.post(url, json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["model_name"] == "adder"
    assert out["model_version"] == "7"
    assert out["outputs"][0]["data"] == [2.0, 3.0, 4.0, 5.0]
    metrics = httpx.get(
        f"http://{ip}:{contract.SERVING_PORT}{contract.PATH_METRICS}", timeout=10
    ).text
    assert 'track="stable"' in metrics


def _degraded_fetch(md: dict[str, Any]) -> bool:
    cond = condition(md, "Degraded")
    return cond is not None and cond["status"] == "True" and cond["reason"] == "ModelFetchFailed"


def test_http_fetch_with_sha256_checked_serves(
    crds: Any, namespace: str, operator: OperatorProcess, served_model: tuple[str, str]
) -> None:
    base, digest = served_model
    spec = {"model": {"uri": f"{base}/add-one.onnx", "version": "1", "sha256": digest}}
    apply_md(crds, namespace, "good", spec)
    md = wait_md(crds, namespace, "good", "Ready after the fetch", phase_is("Ready"), timeout=120)
    assert md["status"]["stable"]["sha256"] == digest
    (pod,) = [p for p in owned(crds, namespace, "pod", "good") if p["status"].get("podIP")]
    fetch = pod["spec"]["initContainers"][0]
    assert fetch["args"][-2:] == ["--sha256", digest]
    url = f"http://{pod['status']['podIP']}:{contract.SERVING_PORT}{contract.v2_infer_path('good')}"
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]}]}
    resp = httpx.post(url, json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["outputs"][0]["data"] == [1.0, 2.0]


def test_wrong_sha256_and_missing_model_are_degraded(
    crds: Any, namespace: str, operator: OperatorProcess, served_model: tuple[str, str]
) -> None:
    """The same file as above with a wrong digest is refused: the pod never becomes Ready."""
    base, digest = served_model
    tampered = {"model": {"uri": f"{base}/add-one.onnx", "version": "1", "sha256": "f" * 64}}
    missing = {"model": {"uri": f"{base}/missing.onnx", "version": "1", "sha256": digest}}
    apply_md(crds, namespace, "tampered", tampered)
    apply_md(crds, namespace, "gone", missing)
    apply_md(crds, namespace, "fine", {"model": {**tampered["model"], "sha256": digest}})
    for name in ("tampered", "gone"):
        md = wait_md(
            crds, namespace, name, "Degraded ModelFetchFailed", _degraded_fetch, timeout=60
        )
        cond = condition(md, "Degraded")
        assert cond is not None
        assert "container fetch failed" in cond["message"]
        assert md["status"]["phase"] == "Degraded"
        assert md["status"]["stable"]["readyReplicas"] == 0
        warnings = {e["reason"] for e in events(crds, namespace, name) if e["type"] == "Warning"}
        assert "ModelFetchFailed" in warnings
    # one bad object does not stop the others: the same file with the right digest is served
    wait_md(crds, namespace, "fine", "Ready", phase_is("Ready"), timeout=120)
    assert operator.proc is not None
    assert operator.proc.poll() is None


def test_fetch_failure_message_reaches_status(
    crds: Any, namespace: str, operator: OperatorProcess, served_model: tuple[str, str]
) -> None:
    base, _ = served_model
    apply_md(
        crds,
        namespace,
        "tampered",
        {"model": {"uri": f"{base}/add-one.onnx", "version": "1", "sha256": "f" * 64}},
    )
    md = wait_md(crds, namespace, "tampered", "Degraded", _degraded_fetch, timeout=60)
    cond = condition(md, "Degraded")
    assert cond is not None
    assert "sha256 mismatch" in cond["message"], cond["message"]
