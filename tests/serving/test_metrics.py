"""The metrics contract (names, labels, values) on a real server, checked by promtool too."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import httpx
import numpy as np
import pytest

from canaria_serving import contract as c
from tests.serving.conftest import Served, start_server, stop_server

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable metrics line {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items())
    )


def test_metrics_contract(classifier: Served) -> None:
    ids = {c.L_MODEL: "clf", c.L_VERSION: "3", c.L_TRACK: "canary"}
    x = classifier.x[:120]
    with classifier.client() as client:
        before = parse(client.get(c.PATH_METRICS).text)
        r = client.post("/predict_batch", json={"instances": x.tolist()})
        assert r.status_code == 200
        assert client.post("/predict", json={"features": [1]}).status_code == 400
        r2 = client.post(
            "/v2/models/clf/infer",
            json={
                "inputs": [
                    {"name": "X", "shape": [1, 6], "datatype": "FP32", "data": x[0].tolist()}
                ]
            },
        )
        assert r2.status_code == 200
        text = client.get(c.PATH_METRICS).text
    after = parse(text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(f"{c.M_REQUESTS}_total", **ids, protocol="predict", code="200") == 1
    assert delta(f"{c.M_REQUESTS}_total", **ids, protocol="predict", code="400") == 1
    assert delta(f"{c.M_REQUESTS}_total", **ids, protocol="v2", code="200") == 1
    assert delta(f"{c.M_REQUEST_DURATION}_count", **ids, protocol="predict") == 2
    assert delta(f"{c.M_INFERENCE_DURATION}_count", **ids) == 2
    assert delta(f"{c.M_BATCH_SIZE}_sum", **ids) == 121
    want = np.bincount(classifier.estimator.predict(np.vstack([x, x[:1]])), minlength=3)
    for cls, count in enumerate(want):
        assert delta(f"{c.M_PREDICTIONS}_total", **ids, **{c.L_CLASS: str(cls)}) == count
    assert delta(f"{c.M_INPUT_ROWS}_total", **ids) == 121
    assert value(after, c.M_MODEL_READY, **ids) == 1
    info = [lab for n, lab, v in after if n == c.M_MODEL_INFO and v == 1]
    assert len(info) == 1
    assert len(info[0]["sha256"]) == 64
    # drift: the window holds rows from the training distribution -> small PSI per feature
    drift = {lab[c.L_FEATURE]: v for n, lab, v in after if n == c.M_INPUT_DRIFT}
    assert set(drift) == set(classifier.feature_names)
    assert all(0 <= v < 0.5 for v in drift.values()), drift
    # only contract names (plus prometheus-client's process/python collectors, not registered here)
    names = {n for n, _, _ in after}
    prefixes = (
        c.M_REQUESTS,
        c.M_REQUEST_DURATION,
        c.M_INFERENCE_DURATION,
        c.M_BATCH_SIZE,
        c.M_PREDICTIONS,
        c.M_PREDICTION_VALUE,
        c.M_INPUT_DRIFT,
        c.M_INPUT_ROWS,
        c.M_MODEL_INFO,
        c.M_MODEL_READY,
        c.M_PAYLOAD_LOG_DROPPED,
    )
    assert all(n.startswith(prefixes) for n in names), names - {
        n for n in names if n.startswith(prefixes)
    }


def test_drift_detects_a_shifted_feature(pipeline: Served) -> None:
    x = pipeline.x[:200].copy()
    x[:, 2] += 40 * x[:, 2].std()
    with pipeline.client() as client:
        assert client.post("/predict_batch", json={"instances": x.tolist()}).status_code == 200
        samples = parse(client.get(c.PATH_METRICS).text)
    drift = {lab[c.L_FEATURE]: v for n, lab, v in samples if n == c.M_INPUT_DRIFT}
    assert drift["feat_2"] > 1.0, drift
    assert max(v for k, v in drift.items() if k != "feat_2") < 0.5, drift


def test_regressor_prediction_histogram(regressor: Served) -> None:
    x = regressor.x[:30]
    with regressor.client() as client:
        before = parse(client.get(c.PATH_METRICS).text)
        client.post("/predict_batch", json={"instances": x.tolist()})
        after = parse(client.get(c.PATH_METRICS).text)
    name = f"{c.M_PREDICTION_VALUE}_count"
    assert value(after, name) - value(before, name) == 30
    preds = regressor.estimator.predict(x)
    # buckets span negative values, so prometheus-client (rightly) exports no _sum
    assert not any(n == f"{c.M_PREDICTION_VALUE}_sum" for n, _, _ in after)
    le0 = value(after, f"{c.M_PREDICTION_VALUE}_bucket", le="0.0") - value(
        before, f"{c.M_PREDICTION_VALUE}_bucket", le="0.0"
    )
    assert le0 == int((preds.astype(np.float32) <= 0).sum())


@pytest.mark.parametrize("fixture", ["classifier", "regressor", "pipeline"])
def test_promtool_accepts_the_metrics(fixture: str, request: pytest.FixtureRequest) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool not installed (Debian package 'prometheus'; scripts/install-system-deps.sh)"
        )
    served: Served = request.getfixturevalue(fixture)
    with served.client() as client:
        client.post("/predict_batch", json={"instances": served.x[:5].tolist()})
        text = client.get(c.PATH_METRICS).text
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_input_drift_is_nan_until_the_window_has_enough_rows(classifier: Served) -> None:
    """Before ``min rows`` inputs, drift is not measured: NaN (no data), never 0 (no drift)."""
    url, proc = start_server(classifier.path, "--name", "fresh")
    try:
        samples = parse(httpx.get(f"{url}{c.PATH_METRICS}", timeout=10).text)
        drift = [v for n, _, v in samples if n == c.M_INPUT_DRIFT]
        assert drift, "the drift series must exist from the start"
        assert all(math.isnan(v) for v in drift), drift
    finally:
        stop_server(proc)
