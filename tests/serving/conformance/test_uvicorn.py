"""A representative subset of the conformance models through real `canaria serve` processes
(uvicorn) and Triton's client, JSON and binary, compared bit for bit with onnxruntime.

Picked for what the issue lists: broadcasting operands with different leading dims, scalar
inputs, strings (JSON and binary BYTES), NaN in and out, BOOL, empty tensors, FP16 and BF16,
int8, a past/present attention, a PyTorch export and a small CNN.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ml_dtypes
import numpy as np
import pytest
import tritonclient.http as triton  # type: ignore[import-untyped]

from tests.serving.conformance.cases import Case, discover
from tests.serving.conformance.check import Outcome, run_onnxruntime, same
from tests.serving.conftest import start_server, stop_server

SUBSET = (
    "node/test_add_bcast",
    "node/test_range_float_type_positive_delta",
    "node/test_string_concat",
    "node/test_regex_full_match_basic",
    "node/test_isnan",
    "node/test_where_example",
    "node/test_reduce_sum_empty_set",
    "node/test_cast_FLOAT_to_FLOAT16",
    "node/test_cast_FLOAT_to_BFLOAT16",
    "node/test_cast_BFLOAT16_to_FLOAT",
    "node/test_mod_mixed_sign_int8",
    "node/test_attention_4d_with_past_and_present",
    "pytorch-converted/test_Conv2d",
    "light/squeezenet",
)
CASES = {c.id: c for c in discover() if c.id in SUBSET}


@pytest.fixture(params=SUBSET)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Case, dict[str, Any], list[Any], str]]:
    case = CASES[request.param]
    reproduced = run_onnxruntime(case)
    assert not isinstance(reproduced, Outcome), reproduced
    feeds, want = reproduced
    url, proc = start_server(case.model, "--allow-non-finite", "--large-intra-op-threads", "1")
    try:
        yield case, feeds, want, url
    finally:
        stop_server(proc)


def _triton_array(value: np.ndarray, datatype: str) -> np.ndarray:
    if datatype == "BYTES":
        return np.asarray(
            [v.encode() if isinstance(v, str) else v for v in value.ravel()], dtype=object
        ).reshape(value.shape)
    return value


def _back(value: np.ndarray, want: np.ndarray) -> np.ndarray:
    """tritonclient's answer in onnxruntime's types: bytes -> str, float32 -> bfloat16."""
    if want.dtype == object:
        text = [v.decode() if isinstance(v, bytes) else v for v in value.ravel()]
        out = np.empty(len(text), dtype=object)
        out[:] = text
        return out.reshape(value.shape)
    if want.dtype == ml_dtypes.bfloat16:
        return value.astype(ml_dtypes.bfloat16)
    return value


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_gets_onnxruntimes_answers(
    served: tuple[Case, dict[str, Any], list[Any], str], binary: bool
) -> None:
    case, feeds, want, url = served
    client = triton.InferenceServerClient(url=url.removeprefix("http://"))
    try:
        meta = client.get_model_metadata(case.model.stem)
        datatypes = {i["name"]: i["datatype"] for i in meta["inputs"]}
        inputs = []
        for name, value in feeds.items():
            arr = np.asarray(value)
            inp = triton.InferInput(name, list(arr.shape), datatypes[name])
            # tritonclient sends BF16 inputs only as binary data
            as_binary = binary or datatypes[name] == "BF16"
            inp.set_data_from_numpy(_triton_array(arr, datatypes[name]), binary_data=as_binary)
            inputs.append(inp)
        names = [o["name"] for o in meta["outputs"]]
        outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in names]
        result = client.infer(case.model.stem, inputs, outputs=outputs)
        for name, expected in zip(names, want, strict=True):
            got = _back(result.as_numpy(name), expected)
            assert same(got, expected), (case.id, name, got, expected)
    finally:
        client.close()
