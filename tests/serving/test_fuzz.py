"""Property-based fuzzing of every endpoint of a real server: never a 5xx, always JSON errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.conftest import Served

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)
dims = st.lists(st.integers(min_value=-2, max_value=8) | st.just(6), max_size=3)
datatypes = st.sampled_from(["FP32", "FP64", "INT64", "BYTES", "BOOL", "fp32", ""]) | st.text(
    max_size=5
)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["X", "x", ""]),
        "shape": dims | json_values,
        "datatype": datatypes,
        "data": st.lists(
            st.floats(width=32)
            | st.integers()
            | st.text(max_size=3)
            | st.lists(st.floats(), max_size=7),
            max_size=40,
        )
        | json_values,
    },
)
v2_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensor, max_size=3) | json_values},
    optional={
        "id": json_values,
        "outputs": st.lists(
            st.fixed_dictionaries(
                {"name": json_values | st.sampled_from(["label", "probabilities"])}
            ),
            max_size=3,
        )
        | json_values,
        "parameters": json_values,
    },
)
records = (
    st.lists(st.floats(allow_nan=False) | st.integers(), min_size=5, max_size=7)
    | st.dictionaries(
        st.sampled_from([f"feat_{i}" for i in range(7)]),
        st.floats(allow_nan=False) | st.text(max_size=3),
        max_size=7,
    )
    | json_values
)
simple_bodies = (
    st.fixed_dictionaries({"features": records})
    | st.fixed_dictionaries({"instances": st.lists(records, max_size=5) | json_values})
    | json_values
)
paths = st.sampled_from(
    [
        "/predict",
        "/predict_batch",
        "/v2/models/clf/infer",
        "/v2/models/clf/versions/3/infer",
        "/v2/models/clf/versions/x/infer",
        "/v1/models/clf:predict",
        "/v2/models/clf",
        "/v2/models/clf/ready",
        "/v2/models/clf/versions/3",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/healthz",
        "/readyz",
        "/v1/models/clf",
        "/metrics",
        "/v2/models//infer",
        "/v2/models/clf/versions//infer",
        "/v1/models/:predict",
    ]
)
methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
raw_bytes = st.binary(max_size=200)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text)
    if r.status_code >= 400 and r.request.method != "HEAD":
        assert isinstance(r.json()["error"], str)


@pytest.fixture(scope="module")
def http(classifier: Served) -> Any:
    with classifier.client() as c:
        yield c


@SETTINGS
@given(
    body=v2_bodies,
    path=st.sampled_from(["/v2/models/clf/infer", "/v2/models/clf/versions/3/infer"]),
)
def test_fuzz_v2_infer(http: httpx.Client, body: Any, path: str) -> None:
    check(http.post(path, content=json.dumps(body), headers={"content-type": "application/json"}))


@SETTINGS
@given(
    body=simple_bodies,
    path=st.sampled_from(["/predict", "/predict_batch", "/v1/models/clf:predict"]),
)
def test_fuzz_simple_and_v1(http: httpx.Client, body: Any, path: str) -> None:
    check(http.post(path, content=json.dumps(body), headers={"content-type": "application/json"}))


@SETTINGS
@given(
    method=methods,
    path=paths,
    body=raw_bytes,
    ctype=st.sampled_from(
        ["application/json", "text/plain", "", "application/json; charset=utf-8"]
    ),
)
def test_fuzz_every_endpoint_raw(
    http: httpx.Client, method: str, path: str, body: bytes, ctype: str
) -> None:
    headers = {"content-type": ctype} if ctype else {}
    check(
        http.request(
            method, path, content=body if method not in ("GET", "HEAD") else None, headers=headers
        )
    )
