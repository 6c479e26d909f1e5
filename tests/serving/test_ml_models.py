"""Models exported elsewhere, without a model card: the default skl2onnx classifier (ZipMap),
string labels, a regressor; their answers and their ML metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from tests.serving.conformance import wire
from tests.serving.inprocess import serve, tensor
from tests.serving.test_metrics import parse, value


def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


async def test_default_skl2onnx_classifier_with_zipmap(tmp_path: Path) -> None:
    """ZipMap's output is a sequence of maps: served as one JSON object per row."""
    x, y = iris()
    est = LogisticRegression(max_iter=500).fit(x, y)
    path = tmp_path / "zip.onnx"
    onnx.save(to_onnx(est, x[:1]), str(path))  # skl2onnx's default: zipmap on
    rows = x[[0, 60, 120]]
    log = tmp_path / "payload.jsonl"
    async with serve(path, payload_log_path=log) as (client, service):
        meta = (await client.get("/v2/models/zip")).json()
        proba_meta = meta["outputs"][1]
        assert proba_meta["name"] == "output_probability"
        assert proba_meta["datatype"] == "BYTES"
        assert proba_meta["parameters"]["content"].startswith("one JSON object per row")
        req = {"inputs": [tensor("X", "FP32", [3, 4], rows.ravel().tolist())]}
        r = await client.post("/v2/models/zip/infer", json=req)
        assert r.status_code == 200, r.text
        label, proba = r.json()["outputs"]
        assert label["data"] == est.predict(rows).tolist()
        assert proba["shape"] == [3]
        expected = est.predict_proba(rows)
        for got, want in zip(proba["data"], expected, strict=True):
            assert list(got) == ["0", "1", "2"]
            np.testing.assert_allclose(list(got.values()), want, atol=1e-5)
        # binary: each map is one BYTES element holding its JSON text
        body, headers = wire.binary_body(
            {"X": (rows, "FP32")}, ["output_label", "output_probability"]
        )
        r = await client.post("/v2/models/zip/infer", content=body, headers=headers)
        assert r.status_code == 200, r.text
        got_binary = wire.parse_binary(
            r.content,
            int(r.headers["inference-header-content-length"]),
            frozenset({"output_probability"}),
        )
        assert got_binary["output_probability"][1] == proba["data"]
        # /predict: the label and its probabilities by class
        r = await client.post("/predict", json={"features": rows[1].tolist()})
        assert r.status_code == 200, r.text
        assert r.json()["prediction"] == est.predict(rows[1:2])[0]
        assert set(r.json()["probabilities"]) == {"0", "1", "2"}
        samples = parse((await client.get("/metrics")).text)
        counted = {k: value(samples, "canaria_predictions_total", **{"class": k}) for k in "012"}
        predicted = est.predict(rows).tolist() * 2 + est.predict(rows[1:2]).tolist()
        assert counted == {k: float(predicted.count(int(k))) for k in "012"}
        assert service.runtime.task == "classification"
    # the payload log holds the maps too (written by its thread, flushed at shutdown)
    first = json.loads(log.read_text().splitlines()[0])
    assert first["outputs"]["output_probability"][0].keys() == {"0", "1", "2"}


async def test_string_labels_feed_the_class_counter(tmp_path: Path) -> None:
    """The classes come from the graph (the classifier node's classlabels_strings)."""
    x, y = iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    est = LogisticRegression(max_iter=500).fit(x, names)
    path = tmp_path / "names.onnx"
    onnx.save(to_onnx(est, x[:1], options={"zipmap": False}), str(path))
    async with serve(path) as (client, _):
        req = {"inputs": [tensor("X", "FP32", [150, 4], x.ravel().tolist())]}
        r = await client.post("/v2/models/names/infer", json=req)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == est.predict(x).tolist()
        samples = parse((await client.get("/metrics")).text)
        for name in ("setosa", "versicolor", "virginica"):
            want = float((est.predict(x) == name).sum())
            assert value(samples, "canaria_predictions_total", **{"class": name}) == want


async def test_regressor_without_a_card_feeds_the_prediction_histogram(tmp_path: Path) -> None:
    x, y = iris()
    est = LinearRegression().fit(x, y.astype(np.float32))
    path = tmp_path / "reg.onnx"
    onnx.save(to_onnx(est, x[:1]), str(path))
    async with serve(path) as (client, service):
        assert service.runtime.task == "regression"
        req = {"inputs": [tensor("X", "FP32", [10, 4], x[:10].ravel().tolist())]}
        r = await client.post("/v2/models/reg/infer", json=req)
        assert r.status_code == 200, r.text
        samples = parse((await client.get("/metrics")).text)
        assert value(samples, "canaria_prediction_value_count") == 10
        # (prometheus-client writes no _sum for a histogram with negative buckets)
