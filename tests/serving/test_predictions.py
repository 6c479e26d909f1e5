"""Predictions of a real `canaria serve` equal scikit-learn's, through every protocol."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from tests.serving.conftest import Served


def _v2(x: np.ndarray, nested: bool = False) -> dict[str, object]:
    data = x.tolist() if nested else x.ravel().tolist()
    return {
        "id": "req-1",
        "inputs": [{"name": "X", "shape": list(x.shape), "datatype": "FP32", "data": data}],
    }


@pytest.mark.parametrize("fixture", ["classifier", "pipeline"])
def test_classifiers_match_sklearn_on_every_protocol(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    served: Served = request.getfixturevalue(fixture)
    x = served.x[:40]
    want_labels = served.estimator.predict(x)
    want_proba = served.estimator.predict_proba(x)
    with served.client() as c:
        for nested in (False, True):
            r = c.post(f"/v2/models/{served.name}/infer", json=_v2(x, nested))
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["id"] == "req-1"
            assert body["model_name"] == served.name
            assert body["model_version"] == "3"
            out = {o["name"]: o for o in body["outputs"]}
            assert out["label"]["shape"] == [40]
            np.testing.assert_array_equal(out["label"]["data"], want_labels)
            got = np.asarray(out["probabilities"]["data"]).reshape(out["probabilities"]["shape"])
            np.testing.assert_allclose(got, want_proba, atol=1e-5)

        r = c.post(
            f"/v2/models/{served.name}/versions/3/infer",
            json={**_v2(x), "outputs": [{"name": "label"}]},
        )
        assert [o["name"] for o in r.json()["outputs"]] == ["label"]

        r = c.post(f"/v1/models/{served.name}:predict", json={"instances": x.tolist()})
        assert r.status_code == 200, r.text
        np.testing.assert_array_equal(r.json()["predictions"], want_labels)

        r = c.post("/predict_batch", json={"instances": x.tolist()})
        body = r.json()
        np.testing.assert_array_equal(body["predictions"], want_labels)
        assert body["model_version"] == "3"
        classes = [str(k) for k in served.estimator.classes_]
        got = np.array([[p[k] for k in classes] for p in body["probabilities"]])
        np.testing.assert_allclose(got, want_proba, atol=1e-5)

        for i in range(5):
            named = dict(zip(served.feature_names, x[i].tolist(), strict=True))
            for features in (x[i].tolist(), named):
                r = c.post("/predict", json={"features": features})
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["prediction"] == want_labels[i]
                assert set(body["probabilities"]) == set(classes)
                assert body["probabilities"][str(want_labels[i])] == pytest.approx(
                    want_proba[i].max(), abs=1e-5
                )


def test_regressor_matches_sklearn(regressor: Served) -> None:
    x = regressor.x[:50]
    want = regressor.estimator.predict(x)
    with regressor.client() as c:
        r = c.post("/v2/models/reg/versions/7/infer", json=_v2(x))
        assert r.status_code == 200, r.text
        out = r.json()["outputs"][0]
        np.testing.assert_allclose(np.asarray(out["data"]), want, rtol=1e-4, atol=1e-3)
        r = c.post("/predict_batch", json={"instances": x.tolist()})
        np.testing.assert_allclose(r.json()["predictions"], want, rtol=1e-4, atol=1e-3)
        assert "probabilities" not in r.json()
        named = dict(zip(regressor.feature_names, x[0].tolist(), strict=True))
        r = c.post("/predict", json={"features": named})
        assert r.json()["prediction"] == pytest.approx(want[0], rel=1e-4, abs=1e-3)
        assert r.json()["model_version"] == "7"


async def test_concurrent_single_rows_are_micro_batched_correctly(pipeline: Served) -> None:
    """The pipeline server runs with --max-batch-size 8: concurrent rows must not get mixed up."""
    x = pipeline.x[:64]
    want = pipeline.estimator.predict_proba(x)
    async with httpx.AsyncClient(base_url=pipeline.url, timeout=30) as c:
        responses = await asyncio.gather(
            *(c.post("/predict", json={"features": row}) for row in x.tolist())
        )
    for i, r in enumerate(responses):
        assert r.status_code == 200, r.text
        probs = r.json()["probabilities"]
        got = [probs[str(k)] for k in pipeline.estimator.classes_]
        np.testing.assert_allclose(got, want[i], atol=1e-5)
    with pipeline.client() as c:
        text = c.get("/metrics").text
    # at least one onnxruntime call carried more than one row
    sizes = [line for line in text.splitlines() if line.startswith("canaria_batch_size_bucket")]
    one_row = next(float(line.split()[-1]) for line in sizes if 'le="1.0"' in line)
    total = next(float(line.split()[-1]) for line in sizes if 'le="+Inf"' in line)
    assert total > one_row


def test_metadata_health_and_defaults(classifier: Served, regressor: Served) -> None:
    with classifier.client() as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        assert c.get("/v2/health/live").status_code == 200
        assert c.get("/v2/health/ready").status_code == 200
        assert c.get("/v2").json()["name"] == "canaria"
        meta = c.get("/v2/models/clf").json()
        assert meta["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 6]}]
        assert {o["name"] for o in meta["outputs"]} == {"label", "probabilities"}
        assert meta["versions"] == ["3"]  # from the model card
        assert c.get("/v2/models/clf/versions/3").status_code == 200
        assert c.get("/v2/models/clf/ready").json()["ready"] is True
        assert c.get("/v2/models/clf/versions/3/ready").status_code == 200
        assert c.get("/v1/models/clf").json()["ready"] is True
        assert c.get("/openapi.json").status_code == 200
    with regressor.client() as c:
        assert c.get("/v2/models/reg").json()["versions"] == ["7"]  # --version flag
