"""Standard V2 clients work against `canaria serve`: Triton's tritonclient[http]."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton  # type: ignore[import-untyped]
from tritonclient.utils import InferenceServerException  # type: ignore[import-untyped]

from tests.serving.conftest import Served


def test_tritonclient_http(classifier: Served) -> None:
    client = triton.InferenceServerClient(url=classifier.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("clf")
        assert client.is_model_ready("clf", "3")
        assert not client.is_model_ready("nope")
        meta = client.get_model_metadata("clf")
        assert meta["inputs"][0] == {"name": "X", "datatype": "FP32", "shape": [-1, 6]}
        x = classifier.x[:7]
        inp = triton.InferInput("X", list(x.shape), "FP32")
        inp.set_data_from_numpy(x, binary_data=False)
        outputs = [
            triton.InferRequestedOutput(n, binary_data=False) for n in ("label", "probabilities")
        ]
        result = client.infer("clf", [inp], outputs=outputs, request_id="abc", model_version="3")
        np.testing.assert_array_equal(result.as_numpy("label"), classifier.estimator.predict(x))
        np.testing.assert_allclose(
            result.as_numpy("probabilities"), classifier.estimator.predict_proba(x), atol=1e-5
        )
        assert result.get_response()["id"] == "abc"

        # the binary tensor data extension: raw inputs and raw outputs, same answers
        binary = triton.InferInput("X", list(x.shape), "FP32")
        binary.set_data_from_numpy(x, binary_data=True)
        raw_outputs = [
            triton.InferRequestedOutput(n, binary_data=True) for n in ("label", "probabilities")
        ]
        raw = client.infer("clf", [binary], outputs=raw_outputs)
        np.testing.assert_array_equal(raw.as_numpy("label"), result.as_numpy("label"))
        np.testing.assert_array_equal(
            raw.as_numpy("probabilities"), result.as_numpy("probabilities")
        )
        assert "data" not in raw.get_response()["outputs"][0]
        mixed = client.infer(  # binary in, JSON out
            "clf", [binary], outputs=[triton.InferRequestedOutput("label", binary_data=False)]
        )
        np.testing.assert_array_equal(mixed.as_numpy("label"), result.as_numpy("label"))
        wrong = triton.InferInput("X", [7, 6], "FP64")
        wrong.set_data_from_numpy(x.astype(np.float64), binary_data=False)
        with pytest.raises(
            InferenceServerException, match="datatype 'FP64' does not match the model's FP32"
        ):
            client.infer("clf", [wrong])
    finally:
        client.close()


BENCH_VENV_PYTHON = Path.home() / ".cache" / "canaria" / "bench-venv" / "bin" / "python"


def test_kserve_rest_client(classifier: Served) -> None:
    """KServe's InferenceRESTClient (V2 and V1), run from the bench venv that holds kserve."""
    if not BENCH_VENV_PYTHON.exists():
        pytest.skip(
            "kserve is kept out of the project venv (its pins conflict); run "
            "bench/serving_bench.py once to create ~/.cache/canaria/bench-venv"
        )
    x = classifier.x[:5]
    script = Path(__file__).with_name("kserve_client_check.py")
    r = subprocess.run(
        [str(BENCH_VENV_PYTHON), str(script), classifier.url, "clf", json.dumps(x.tolist())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["ready"] is True
    assert got["model_ready"] is True
    np.testing.assert_array_equal(got["v2"]["label"], classifier.estimator.predict(x))
    np.testing.assert_allclose(
        got["v2"]["probabilities"], classifier.estimator.predict_proba(x), atol=1e-5
    )
    np.testing.assert_array_equal(got["v1"]["predictions"], classifier.estimator.predict(x))
