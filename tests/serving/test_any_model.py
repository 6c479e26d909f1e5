"""Models `canaria package` never makes: the shapes and types of the issue, one test each."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from canaria_serving.runtime.model import ModelLoadError, load_model
from tests.serving.conformance import wire
from tests.serving.inprocess import serve, tensor
from tests.serving.onnx_models import ELEMENT, identity_per_datatype, io, save

J = {"content-type": "application/json"}


async def test_inputs_with_different_leading_dims(tmp_path: Path) -> None:
    """data [N, 3] @ weights [3, K] + bias [K]: three inputs, three leading dims."""
    path = save(
        tmp_path / "affine.onnx",
        [
            helper.make_node("MatMul", ["data", "weights"], ["xw"]),
            helper.make_node("Add", ["xw", "bias"], ["y"]),
        ],
        [io("data", "FP32", ["N", 3]), io("weights", "FP32", [3, "K"]), io("bias", "FP32", ["K"])],
        [io("y", "FP32", ["N", "K"])],
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    w = rng.normal(size=(3, 2)).astype(np.float32)
    b = np.array([0.5, -1.0], np.float32)
    async with serve(path) as (client, _):
        meta = (await client.get("/v2/models/affine")).json()
        assert [i["shape"] for i in meta["inputs"]] == [[-1, 3], [3, -1], [-1]]
        body = {
            "inputs": [
                tensor("data", "FP32", [4, 3], x.ravel().tolist()),
                tensor("weights", "FP32", [3, 2], w.ravel().tolist()),
                tensor("bias", "FP32", [2], b.tolist()),
            ]
        }
        r = await client.post("/v2/models/affine/infer", json=body)
        assert r.status_code == 200, r.text
        got = np.asarray(r.json()["outputs"][0]["data"], np.float32).reshape(4, 2)
        np.testing.assert_allclose(got, x @ w + b, rtol=1e-6)
        # the graph names K in weights and bias: they must agree
        body["inputs"][2] = tensor("bias", "FP32", [3], [1.0, 2.0, 3.0])
        r = await client.post("/v2/models/affine/infer", json=body)
        assert r.status_code == 400
        assert "inputs disagree on dimension 'K'" in r.json()["error"]
        assert "'weights' axis 1 is 2, 'bias' axis 0 is 3" in r.json()["error"]


async def test_scalar_input_is_answered_and_the_server_stays_ready(tmp_path: Path) -> None:
    """A rank-0 input (the micro-batcher once took shape[0] of it and hung the request)."""
    path = save(
        tmp_path / "scale.onnx",
        [helper.make_node("Mul", ["x", "factor"], ["y"])],
        [io("x", "FP32", ["N"]), io("factor", "FP32", [])],
        [io("y", "FP32", ["N"])],
    )
    async with serve(path) as (client, service):
        assert not service.runtime.batchable  # a scalar input has no batch dimension
        body = {"inputs": [tensor("x", "FP32", [3], [1, 2, 3]), tensor("factor", "FP32", [], [2])]}
        r = await asyncio.wait_for(client.post("/v2/models/scale/infer", json=body), 10)
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == [2, 4, 6]
        bad = {"inputs": [body["inputs"][0], tensor("factor", "FP32", [1], [2])]}
        r = await client.post("/v2/models/scale/infer", json=bad)
        assert r.status_code == 400
        assert "shape [1] does not match the model's []" in r.json()["error"]
        assert (await client.get("/v2/health/ready")).status_code == 200


async def test_nan_output_is_answered_and_metrics_still_work(tmp_path: Path) -> None:
    path = save(
        tmp_path / "sqrt.onnx",
        [helper.make_node("Sqrt", ["x"], ["y"])],
        [io("x", "FP32", ["N", 2])],
        [io("y", "FP32", ["N", 2])],
    )
    async with serve(path) as (client, _):
        body = {"inputs": [tensor("x", "FP32", [2, 2], [4, -1, 0, 9])]}
        r = await client.post("/v2/models/sqrt/infer", json=body)
        assert r.status_code == 200, r.text
        data = json.loads(r.content)["outputs"][0]["data"]  # NaN literal, as Python reads it
        assert data[0] == 2
        assert np.isnan(data[1])
        assert data[2:] == [0, 3]
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        count = [
            line
            for line in metrics.text.splitlines()
            if line.startswith("canaria_prediction_value_count")
        ]
        assert count, metrics.text
        assert count[0].endswith(" 3.0"), count  # NaN has no bucket: 3 of 4 values


async def test_zero_length_dimension(tmp_path: Path) -> None:
    path = save(
        tmp_path / "neg.onnx",
        [helper.make_node("Neg", ["x"], ["y"])],
        [io("x", "INT64", ["N", 3])],
        [io("y", "INT64", ["N", 3])],
    )
    async with serve(path) as (client, _):
        r = await client.post(
            "/v2/models/neg/infer", json={"inputs": [tensor("x", "INT64", [0, 3], [])]}
        )
        assert r.status_code == 200, r.text
        out = r.json()["outputs"][0]
        assert (out["shape"], out["data"]) == ([0, 3], [])


async def test_warm_up_failing_on_generated_inputs_starts_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reshape of 6 values by a shape input: zeros and ones both fail, real shapes work."""
    path = save(
        tmp_path / "reshape.onnx",
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [io("x", "FP32", [6]), io("shape", "INT64", [2])],
        [io("y", "FP32", None)],
    )
    with caplog.at_level(logging.WARNING, logger="canaria.serve"):
        async with serve(path) as (client, service):
            assert service.ready
            body = {
                "inputs": [
                    tensor("x", "FP32", [6], [1, 2, 3, 4, 5, 6]),
                    tensor("shape", "INT64", [2], [2, 3]),
                ]
            }
            r = await client.post("/v2/models/reshape/infer", json=body)
            assert r.status_code == 200, r.text
            assert r.json()["outputs"][0]["shape"] == [2, 3]
    warning = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert any("warm-up inference failed on every generated input" in w for w in warning)
    assert any("generated zeros" in w and "generated ones" in w for w in warning), warning


def test_a_model_that_cannot_be_served_is_refused_saying_why(tmp_path: Path) -> None:
    seq = helper.make_tensor_sequence_value_info("pieces", TensorProto.FLOAT, None)
    path = save(
        tmp_path / "seq.onnx",
        [helper.make_node("SequenceLength", ["pieces"], ["n"])],
        [seq],
        [io("n", "INT64", [])],
    )
    reason = (
        "cannot serve this model: input 'pieces' is seq(tensor(float)), a sequence: the V2 "
        "protocol carries tensors only"
    )
    with pytest.raises(ModelLoadError) as err:
        load_model(path)
    assert str(err.value) == reason
    proc = subprocess.run(
        [sys.executable, "-m", "canaria_operator.cli", "serve", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert f"cannot serve {path}: {reason}" in proc.stderr


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
async def test_every_datatype_round_trips(tmp_path: Path, binary: bool) -> None:
    """Every V2 datatype through JSON and binary. BF16 in its own model: onnxruntime's Python
    API takes bfloat16 only as OrtValues, which cannot hold strings (a model with BYTES inputs
    and BF16 tensors is refused, test below)."""
    values = {
        "FP32": np.array([[1.5, -np.float32(3.4e38)], [1e-45, 0.1]], np.float32),
        "FP64": np.array([[np.pi, -1e308], [5e-324, 0.1]]),
        "FP16": np.array([[65504, -0.000061], [1.5, 0.1]], np.float16),
        "BF16": np.array([[1.5, -3.0e38], [0.1, 2]], ml_dtypes.bfloat16),
        "INT8": np.array([[-128, 127], [0, 1]], np.int8),
        "INT16": np.array([[-32768, 32767], [0, 1]], np.int16),
        "INT32": np.array([[-(2**31), 2**31 - 1], [0, 1]], np.int32),
        "INT64": np.array([[-(2**63), 2**63 - 1], [0, 1]], np.int64),
        "UINT8": np.array([[0, 255], [1, 2]], np.uint8),
        "UINT16": np.array([[0, 65535], [1, 2]], np.uint16),
        "UINT32": np.array([[0, 2**32 - 1], [1, 2]], np.uint32),
        "UINT64": np.array([[0, 2**64 - 1], [1, 2]], np.uint64),
        "BOOL": np.array([[True, False], [False, True]]),
        "BYTES": np.array([["", "héllo"], ["a\x00b", "日本"]], dtype=object),
    }
    assert set(values) == set(ELEMENT)
    got = {}
    for group in ([d for d in ELEMENT if d != "BF16"], ["BF16"]):
        path = identity_per_datatype(tmp_path / "ident.onnx", group)
        sent = {d: values[d] for d in group}
        got.update(await _round_trip(path, sent, binary))
    for d, sent_value in values.items():
        datatype, value = got[f"out_{d}"]
        assert datatype == d
        assert value.dtype == sent_value.dtype, d
        if d == "BF16":
            np.testing.assert_array_equal(value.astype(np.float32), sent_value.astype(np.float32))
        else:
            np.testing.assert_array_equal(value, sent_value, err_msg=d)


def test_bytes_inputs_with_bf16_tensors_are_refused_clearly(tmp_path: Path) -> None:
    path = identity_per_datatype(tmp_path / "both.onnx", ["BYTES", "BF16"])
    with pytest.raises(ModelLoadError, match="takes BYTES input 'in_BYTES' and has BF16 tensors"):
        load_model(path)


async def _round_trip(
    path: Path, values: dict[str, np.ndarray], binary: bool
) -> dict[str, tuple[str, object]]:
    inputs = {f"in_{d}": (v, d) for d, v in values.items()}
    async with serve(path) as (client, _):
        meta = (await client.get("/v2/models/ident")).json()
        assert {i["datatype"] for i in meta["inputs"]} == set(values)
        if binary:
            body, headers = wire.binary_body(inputs, [f"out_{d}" for d in values])
            r = await client.post("/v2/models/ident/infer", content=body, headers=headers)
            assert r.status_code == 200, r.text
            got = wire.parse_binary(r.content, int(r.headers["inference-header-content-length"]))
        else:
            r = await client.post(
                "/v2/models/ident/infer", content=wire.json_body(inputs), headers=J
            )
            assert r.status_code == 200, r.text
            got = wire.parse_json(r.content)
    return got


async def test_bf16_values_are_rounded_to_bf16_in_json(tmp_path: Path) -> None:
    path = save(
        tmp_path / "bf.onnx",
        [helper.make_node("Identity", ["x"], ["y"])],
        [io("x", "BF16", [2])],
        [io("y", "BF16", [2])],
    )
    async with serve(path) as (client, _):
        r = await client.post(
            "/v2/models/bf/infer", json={"inputs": [tensor("x", "BF16", [2], [0.1, 1e39])]}
        )
        assert r.status_code == 400  # 1e39 overflows BF16 to inf
        assert "NaN or infinite" in r.json()["error"]
        r = await client.post(
            "/v2/models/bf/infer", json={"inputs": [tensor("x", "BF16", [2], [0.1, 3])]}
        )
        assert r.status_code == 200, r.text
        data = r.json()["outputs"][0]["data"]  # float32 text of the BF16 values: exact
        assert [ml_dtypes.bfloat16(v) for v in data] == [ml_dtypes.bfloat16(0.1), 3]


async def test_bytes_binary_errors_are_clear(tmp_path: Path) -> None:
    path = save(
        tmp_path / "s.onnx",
        [helper.make_node("Identity", ["x"], ["y"])],
        [io("x", "BYTES", ["N"])],
        [io("y", "BYTES", ["N"])],
    )
    async with serve(path, max_rows=10**13) as (client, _):
        for data, expected in (
            (b"\x05\x00\x00\x00abc", "element 0 declares 5 bytes, only 3 are left"),
            (b"\x01\x00\x00\x00\xff", "element 0 is not valid UTF-8"),
            (b"\x01\x00\x00\x00ab", "1 bytes follow the last of the 1 BYTES elements"),
            (b"\x00\x00\x00\x00", "1000000000000 BYTES elements need at least"),
        ):
            head = json.dumps(
                {
                    "inputs": [
                        {
                            "name": "x",
                            "datatype": "BYTES",
                            "shape": [10**12 if len(data) == 4 else 1],
                            "parameters": {"binary_data_size": len(data)},
                        }
                    ]
                }
            ).encode()
            r = await client.post(
                "/v2/models/s/infer",
                content=head + data,
                headers={"inference-header-content-length": str(len(head))},
            )
            assert r.status_code == 400, r.text
            assert expected in r.json()["error"]


async def test_external_data_directory(tmp_path: Path) -> None:
    directory = tmp_path / "mlflow-model"
    directory.mkdir()
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "ext",
        [io("x", "FP32", ["N", 3])],
        [io("y", "FP32", ["N", 4])],
        initializer=[onnx.numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(
        model,
        str(directory / "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=False,
        size_threshold=0,
    )
    (directory / "MLmodel").write_text("flavors: {}\n")
    assert len(list(directory.iterdir())) == 3  # the graph, one data file, MLmodel
    async with serve(directory) as (client, service):
        assert service.runtime.name == "model"
        r = await client.post(
            "/v2/models/model/infer", json={"inputs": [tensor("x", "FP32", [1, 3], [1, 0, 2])]}
        )
        assert r.status_code == 200, r.text
        assert r.json()["outputs"][0]["data"] == (np.array([1, 0, 2]) @ w).tolist()
    data_file = next(p for p in directory.iterdir() if p.name not in ("model.onnx", "MLmodel"))
    data_file.unlink()
    with pytest.raises(ModelLoadError, match="the model's external data is missing"):
        load_model(directory)
    (directory / "other.onnx").write_bytes((directory / "model.onnx").read_bytes())
    (directory / "model.onnx").unlink()
    (directory / "third.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"several \.onnx files \(other\.onnx, third\.onnx\)"):
        load_model(directory)
