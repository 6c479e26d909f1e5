"""The OIP binary tensor data extension, with hand-built bodies (Triton's client: test_clients)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import Served
from .test_fuzz import SETTINGS, check


def _body(header: dict[str, Any], data: bytes) -> tuple[bytes, dict[str, str]]:
    head = orjson.dumps(header)
    return head + data, {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(head)),
    }


def _tensor(rows: int, size: int, datatype: str = "FP32", shape: Any = None) -> dict[str, Any]:
    return {
        "name": "X",
        "datatype": datatype,
        "shape": shape if shape is not None else [rows, 6],
        "parameters": {"binary_data_size": size},
    }


@pytest.fixture(scope="module")
def http(classifier: Served) -> Any:
    with classifier.client() as c:
        yield c


def test_binary_in_and_out_equals_sklearn(http: httpx.Client, classifier: Served) -> None:
    x = classifier.x[:50]
    body, headers = _body(
        {"inputs": [_tensor(50, x.nbytes)], "parameters": {"binary_data_output": True}},
        x.tobytes(),
    )
    r = http.post("/v2/models/clf/infer", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    n = int(r.headers["inference-header-content-length"])
    header = orjson.loads(r.content[:n])
    label, proba = header["outputs"]
    assert label["name"] == "label"
    assert label["parameters"]["binary_data_size"] == 50 * 8
    labels = np.frombuffer(r.content[n : n + 400], dtype="<i8")
    probs = np.frombuffer(r.content[n + 400 :], dtype="<f4").reshape(50, -1)
    np.testing.assert_array_equal(labels, classifier.estimator.predict(x))
    np.testing.assert_allclose(probs, classifier.estimator.predict_proba(x), atol=1e-5)
    assert proba["parameters"]["binary_data_size"] == probs.nbytes


X6 = np.arange(12, dtype=np.float32).reshape(2, 6)
BAD: list[tuple[str, dict[str, Any], bytes, str]] = [
    (
        "size too small for the shape",
        {"inputs": [_tensor(2, 40)]},
        X6.tobytes()[:40],
        "binary_data_size is 40 bytes, but shape [2, 6] of FP32 needs 48",
    ),
    (
        "size past the end",
        {"inputs": [_tensor(2, 48)]},
        X6.tobytes()[:20],
        "binary_data_size 48 runs past the end of the body (20 bytes left)",
    ),
    (
        "trailing bytes",
        {"inputs": [_tensor(2, 48)]},
        X6.tobytes() + b"xx",
        "2 bytes of binary data follow the last input",
    ),
    (
        "negative size",
        {"inputs": [_tensor(2, -1)]},
        b"",
        "binary_data_size must be a non-negative integer",
    ),
    (
        "wrong datatype",
        {"inputs": [_tensor(2, 96, "FP64")]},
        X6.astype(np.float64).tobytes(),
        "datatype 'FP64' does not match the model's FP32",
    ),
    (
        "wrong shape",
        {"inputs": [_tensor(2, 48, shape=[2, 5])]},
        X6.tobytes(),
        "shape [2, 5] does not match the model's [-1, 6]",
    ),
    (
        "NaN",
        {"inputs": [_tensor(2, 48)]},
        np.full((2, 6), np.nan, np.float32).tobytes(),
        "contains NaN or infinite values",
    ),
    (
        "no data, no size",
        {"inputs": [{"name": "X", "datatype": "FP32", "shape": [2, 6]}]},
        b"",
        "input 'X': missing 'data'",
    ),
]


@pytest.mark.parametrize(
    ("header", "data", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_binary_request_is_a_clear_400(
    http: httpx.Client, header: dict[str, Any], data: bytes, expected: str
) -> None:
    body, headers = _body(header, data)
    r = http.post("/v2/models/clf/infer", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert expected in r.json()["error"]


def test_binary_size_without_the_extension_header(http: httpx.Client) -> None:
    r = http.post("/v2/models/clf/infer", json={"inputs": [_tensor(2, 48)]})
    assert r.status_code == 400
    assert "needs the binary tensor data extension" in r.json()["error"]


def test_v2_server_metadata_advertises_the_extension(http: httpx.Client) -> None:
    assert "binary_tensor_data" in http.get("/v2").json()["extensions"]


@SETTINGS
@given(
    header_length=st.one_of(st.integers(0, 400), st.from_regex(r"[!-~]{1,12}", fullmatch=True)),
    size=st.integers(-5, 200),
    data=st.binary(max_size=120),
)
def test_fuzz_binary_requests(
    http: httpx.Client, header_length: int | str, size: int, data: bytes
) -> None:
    head = orjson.dumps({"inputs": [_tensor(2, size)]})
    r = http.post(
        "/v2/models/clf/infer",
        content=head + data,
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(header_length),
        },
    )
    check(r)
