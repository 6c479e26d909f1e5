"""A model that fails inside onnxruntime on input that matches its graph: 500, not 400.

The input passed validation (names, types, shapes of the graph), so the failure is the
model's: it must count as a server error, or error-rate analysis would promote a canary that
breaks on a third of real traffic (the end-to-end v3 scenario)."""

from __future__ import annotations

from pathlib import Path

import httpx
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from canaria_serving import contract
from canaria_serving.packaging import package_model
from tests.e2e.models import failing_variant
from tests.serving.conftest import start_server, stop_server


def test_failure_on_valid_input_is_a_500_and_counted(tmp_path: Path) -> None:
    x, y = load_iris(return_X_y=True)
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y)
    raw = package_model(est, x, name="iris", version="3").onnx_bytes
    path = tmp_path / "broken.onnx"
    path.write_bytes(failing_variant(raw, "3"))
    url, proc = start_server(path)
    try:
        infer = f"{url}{contract.v2_infer_path('iris')}"

        def send(row: list[float]) -> httpx.Response:
            body = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": row}]}
            return httpx.post(infer, json=body, timeout=10)

        assert send([5.1, 3.5, 1.4, 0.2]).status_code == 200
        bad = send([6.3, 3.3, 6.0, 2.5])
        assert bad.status_code == 500
        assert "the model failed on this input" in bad.json()["error"]
        metrics = httpx.get(f"{url}{contract.PATH_METRICS}", timeout=10).text
        assert 'code="500"' in metrics
    finally:
        stop_server(proc)
