"""Every client mistake gets a 4xx with a JSON ``{"error": ...}`` naming the problem."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import orjson
import pytest

from tests.serving.conftest import Served, start_server, stop_server

ROW = [0.5] * 6


def v2(
    data: object = None, shape: object = None, datatype: object = "FP32", name: object = "X"
) -> bytes:
    tensor = {
        "name": name,
        "shape": [1, 6] if shape is None else shape,
        "datatype": datatype,
        "data": ROW if data is None else data,
    }
    return orjson.dumps({"inputs": [tensor]})


J = {"content-type": "application/json"}
CASES: list[tuple[str, str, str, bytes, dict[str, str], int, str]] = [
    # id, method, path, body, headers, status, expected text in the error
    ("wrong input name", "POST", "/v2/models/clf/infer", v2(name="x"), J, 400, "unknown input 'x'"),
    (
        "wrong datatype",
        "POST",
        "/v2/models/clf/infer",
        v2(datatype="FP64"),
        J,
        400,
        "datatype 'FP64' does not match the model's FP32",
    ),
    (
        "wrong rank",
        "POST",
        "/v2/models/clf/infer",
        v2(shape=[6]),
        J,
        400,
        "shape [6] does not match the model's [-1, 6]",
    ),
    (
        "wrong width",
        "POST",
        "/v2/models/clf/infer",
        v2(data=[0.5] * 5, shape=[1, 5]),
        J,
        400,
        "shape [1, 5] does not match",
    ),
    (
        "length != shape",
        "POST",
        "/v2/models/clf/infer",
        v2(data=[0.5] * 7),
        J,
        400,
        "data has 7 elements, but shape [1, 6] needs 6",
    ),
    (
        "nested mismatch",
        "POST",
        "/v2/models/clf/infer",
        v2(data=[[0.5] * 3, [0.5] * 3], shape=[1, 6]),
        J,
        400,
        "nested data has shape [2, 3]",
    ),
    (
        "ragged",
        "POST",
        "/v2/models/clf/infer",
        v2(data=[[0.5] * 6, [0.5]], shape=[2, 6]),
        J,
        400,
        "not a regular array",
    ),
    (
        "strings for FP32",
        "POST",
        "/v2/models/clf/infer",
        v2(data=["a"] * 6),
        J,
        400,
        "expected numbers for FP32, got strings",
    ),
    (
        "null in data",
        "POST",
        "/v2/models/clf/infer",
        v2(data=[None] * 6),
        J,
        400,
        "expected numbers for FP32",
    ),
    (
        "overflow to inf",
        "POST",
        "/v2/models/clf/infer",
        v2(data=[1e39] * 6),
        J,
        400,
        "NaN or infinite",
    ),
    (
        "negative shape",
        "POST",
        "/v2/models/clf/infer",
        v2(shape=[-1, 6]),
        J,
        400,
        "shape must be a list of non-negative integers",
    ),
    (
        "too many rows",
        "POST",
        "/v2/models/clf/infer",
        v2(data=[0.5] * 6 * 101, shape=[101, 6]),
        J,
        400,
        "101 rows is more than the limit of 100",
    ),
    (
        "missing data",
        "POST",
        "/v2/models/clf/infer",
        b'{"inputs":[{"name":"X","shape":[1,6],"datatype":"FP32"}]}',
        J,
        400,
        "missing 'data'",
    ),
    (
        "no inputs",
        "POST",
        "/v2/models/clf/infer",
        b'{"inputs":[]}',
        J,
        400,
        "'inputs' must be a non-empty list",
    ),
    (
        "duplicate input",
        "POST",
        "/v2/models/clf/infer",
        orjson.dumps({"inputs": orjson.loads(v2())["inputs"] * 2}),
        J,
        400,
        "input 'X' is given twice",
    ),
    (
        "unknown output",
        "POST",
        "/v2/models/clf/infer",
        orjson.dumps({"inputs": orjson.loads(v2())["inputs"], "outputs": [{"name": "nope"}]}),
        J,
        400,
        "unknown output 'nope'",
    ),
    ("malformed JSON", "POST", "/v2/models/clf/infer", b'{"inputs": [', J, 400, "malformed JSON"),
    ("empty body", "POST", "/v2/models/clf/infer", b"", J, 400, "request body is empty"),
    ("body not object", "POST", "/v2/models/clf/infer", b"[1,2]", J, 400, "must be a JSON object"),
    (
        "wrong content type",
        "POST",
        "/v2/models/clf/infer",
        v2(),
        {"content-type": "text/plain"},
        415,
        "content type 'text/plain' is not supported",
    ),
    (
        "binary header longer than the body",
        "POST",
        "/v2/models/clf/infer",
        v2(),
        {**J, "inference-header-content-length": "999999"},
        400,
        "Inference-Header-Content-Length is 999999, but the body has only",
    ),
    (
        "binary header length not a number",
        "POST",
        "/v2/models/clf/infer",
        v2(),
        {**J, "inference-header-content-length": "-5"},
        400,
        "Inference-Header-Content-Length must be a non-negative integer, got '-5'",
    ),
    (
        "binary extension on V1",
        "POST",
        "/v1/models/clf:predict",
        b'{"instances": [[0, 0, 0, 0, 0, 0]]}',
        {**J, "inference-header-content-length": "4"},
        400,
        "binary tensor data extension is only for V2 infer",
    ),
    (
        "gzip body",
        "POST",
        "/v2/models/clf/infer",
        v2(),
        {**J, "content-encoding": "gzip"},
        415,
        "content encoding 'gzip'",
    ),
    ("unknown model", "POST", "/v2/models/nope/infer", v2(), J, 404, "unknown model 'nope'"),
    (
        "unknown version",
        "POST",
        "/v2/models/clf/versions/9/infer",
        v2(),
        J,
        404,
        "unknown version '9'",
    ),
    ("unknown model metadata", "GET", "/v2/models/nope", b"", {}, 404, "unknown model 'nope'"),
    ("unknown path", "GET", "/nope", b"", {}, 404, "not found"),
    ("GET on infer", "GET", "/v2/models/clf/infer", b"", {}, 405, "GET is not allowed"),
    ("POST on metadata", "POST", "/v2/models/clf", b"{}", J, 405, "method not allowed"),
    (
        "v1 no instances",
        "POST",
        "/v1/models/clf:predict",
        b'{"inputs": []}',
        J,
        400,
        "expected a JSON object with 'instances'",
    ),
    (
        "v1 unknown model",
        "POST",
        "/v1/models/nope:predict",
        b'{"instances": [[1]]}',
        J,
        404,
        "unknown model 'nope'",
    ),
    (
        "predict short row",
        "POST",
        "/predict",
        b'{"features": [1, 2]}',
        J,
        400,
        "2 values, the model expects 6 features",
    ),
    (
        "predict unknown feature",
        "POST",
        "/predict",
        orjson.dumps({"features": {"bogus": 1}}),
        J,
        400,
        "unknown feature(s) ['bogus']",
    ),
    (
        "predict missing feature",
        "POST",
        "/predict",
        orjson.dumps({"features": {f"feat_{i}": 1 for i in range(5)}}),
        J,
        400,
        "missing feature(s) ['feat_5']",
    ),
    (
        "predict string value",
        "POST",
        "/predict",
        orjson.dumps({"features": ["x"] * 6}),
        J,
        400,
        "expected numbers",
    ),
    (
        "predict scalar",
        "POST",
        "/predict",
        b'{"features": 3}',
        J,
        400,
        "expected a list of values or an object",
    ),
    (
        "batch not list",
        "POST",
        "/predict_batch",
        b'{"instances": 3}',
        J,
        400,
        "'instances' must be a list",
    ),
    (
        "batch empty",
        "POST",
        "/predict_batch",
        b'{"instances": []}',
        J,
        400,
        "at least one instance",
    ),
    (
        "batch bad row",
        "POST",
        "/predict_batch",
        orjson.dumps({"instances": [ROW, ROW[:3]]}),
        J,
        400,
        "instance 1: 3 values",
    ),
    (
        "batch too many",
        "POST",
        "/predict_batch",
        orjson.dumps({"instances": [ROW] * 101}),
        J,
        400,
        "101 instances is more than the limit of 100",
    ),
    (
        "too big",
        "POST",
        "/predict",
        b'{"features": [' + b"1," * 40_000 + b"1]}",
        J,
        413,
        "larger than the limit of 65536 bytes",
    ),
]


@pytest.fixture(scope="module")
def strict_server(classifier: Served) -> Iterator[str]:
    """The classifier fixture's model, served with small limits to exercise them."""
    url, proc = start_server(classifier.path, "--max-rows", "100", "--max-body-bytes", "65536")
    yield url
    stop_server(proc)


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "headers", "status", "text"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_bad_input_is_a_clear_4xx(
    strict_server: str,
    case: str,
    method: str,
    path: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    text: str,
) -> None:
    import httpx

    r = httpx.request(
        method, strict_server + path, content=body or None, headers=headers, timeout=10
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    message = r.json()["error"]
    assert text in message, message
    # the server is still fine
    assert httpx.get(strict_server + "/readyz").status_code == 200


def test_nan_literal_and_non_finite_policy(classifier: Served) -> None:
    """JSON has no NaN, but Python's json writes it: the literal is read, and refused as a
    non-finite value unless --allow-non-finite."""
    import httpx

    body = b'{"inputs":[{"name":"X","shape":[1,6],"datatype":"FP32","data":[NaN,1,1,1,1,1]}]}'
    r = httpx.post(classifier.url + "/v2/models/clf/infer", content=body, headers=J)
    assert r.status_code == 400
    assert "contains NaN or infinite values" in r.json()["error"]
    broken = body.replace(b"NaN", b"NaX")
    r = httpx.post(classifier.url + "/v2/models/clf/infer", content=broken, headers=J)
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["error"]
    url, proc = start_server(classifier.path, "--allow-non-finite")
    try:
        r = httpx.post(url + "/v2/models/clf/infer", content=v2(data=[1e39] * 6), headers=J)
        assert r.status_code == 200, r.text
        r = httpx.post(url + "/v2/models/clf/infer", content=body, headers=J)
        assert r.status_code == 200, r.text
    finally:
        stop_server(proc)


def test_zero_rows_are_an_empty_answer(classifier: Served) -> None:
    """A zero-length dimension is a valid tensor: the model answers with empty outputs."""
    import httpx

    r = httpx.post(
        classifier.url + "/v2/models/clf/infer", content=v2(data=[], shape=[0, 6]), headers=J
    )
    assert r.status_code == 200, r.text
    label, proba = r.json()["outputs"]
    assert (label["shape"], label["data"]) == ([0], [])
    assert (proba["shape"], proba["data"]) == ([0, 3], [])


def test_garbage_on_the_socket_does_not_kill_the_server(classifier: Served) -> None:
    import httpx

    host, port = classifier.url.removeprefix("http://").split(":")
    for junk in (
        b"\x00\xff garbage\r\n\r\n",
        b"POST /predict HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{",
    ):
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(2)
            with contextlib.suppress(TimeoutError):
                s.recv(1024)
    assert httpx.get(classifier.url + "/readyz").status_code == 200
