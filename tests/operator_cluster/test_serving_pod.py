"""A ModelDeployment served for real: the dev cluster's runner runs the operator's pod as a
`canaria serve` process on its pod IP, which answers an Open Inference Protocol V2 request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from onnx import TensorProto, helper

from canaria_serving import contract
from tests.operator_cluster.support import OperatorProcess, apply_md, owned, phase_is, wait_md

pytestmark = pytest.mark.cluster


def _add_one_model(path: Path) -> None:
    """y = x + 1 on rows of 2 floats."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [2], [1.0, 1.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "add-one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture
def real_operator(crds: Any, namespace: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    """The operator with default pod settings: the runner runs its serving pods."""
    op = OperatorProcess(crds, namespace, tmp_path / "operator.log").start()
    yield op
    op.stop()


def test_runner_pod_answers_v2_on_its_pod_ip(
    crds: Any, namespace: str, real_operator: OperatorProcess, tmp_path: Path
) -> None:
    model = tmp_path / "add-one.onnx"
    _add_one_model(model)
    spec = {"model": {"uri": f"file://{model}", "version": "7", "name": "adder"}}
    apply_md(crds, namespace, "adder", spec)
    md = wait_md(
        crds, namespace, "adder", "Ready (pod served by the runner)", phase_is("Ready"), timeout=120
    )
    assert md["status"]["stable"]["readyReplicas"] == 1
    (pod,) = [p for p in owned(crds, namespace, "pod", "adder") if p["status"].get("podIP")]
    ip = pod["status"]["podIP"]
    assert ip.startswith("127.")
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
