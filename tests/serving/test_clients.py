"""Standard V2 clients work against `canaria serve`: Triton's tritonclient[http]."""

from __future__ import annotations

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

        binary = triton.InferInput("X", list(x.shape), "FP32")
        binary.set_data_from_numpy(x, binary_data=True)
        with pytest.raises(
            InferenceServerException, match="binary tensor data extension is not supported"
        ):
            client.infer("clf", [binary])
        wrong = triton.InferInput("X", [7, 6], "FP64")
        wrong.set_data_from_numpy(x.astype(np.float64), binary_data=False)
        with pytest.raises(
            InferenceServerException, match="datatype 'FP64' does not match the model's FP32"
        ):
            client.infer("clf", [wrong])
    finally:
        client.close()
