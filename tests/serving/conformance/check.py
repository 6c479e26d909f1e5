"""One conformance case: does onnxruntime reproduce the reference, and does `canaria serve`
answer exactly what onnxruntime answers, over V2 JSON and binary, and refuse bad requests?

Outcomes: ``served`` (identical outputs over JSON and binary, every bad request a 4xx),
``refused`` (canaria refuses the model at start-up; the reason is recorded), or
``not reproduced`` (onnxruntime itself cannot load or run the model, or differs from the
reference: nothing to serve). A served model whose answers differ, or a 5xx to a bad request,
fails the test.
"""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ml_dtypes
import numpy as np
import onnx
import onnxruntime as ort
import orjson
from onnx.backend.test.runner import Runner

from canaria_serving.runtime.loading import ModelLoadError
from canaria_serving.server.fastpath import FastPath
from canaria_serving.server.service import InferenceService
from canaria_serving.settings import ServeSettings
from tests.serving.conformance import wire
from tests.serving.conformance.cases import Case, load_reference

__all__ = ["Outcome", "check_case", "same"]

SERVED, REFUSED, NOT_REPRODUCED = "served", "refused", "not reproduced"


@dataclass(frozen=True)
class Outcome:
    kind: str
    reason: str = ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def reference_session(path: Path) -> ort.InferenceSession:
    """onnxruntime with the options of the server's session (1 thread, no spinning)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


_NO_NUMPY_TYPE = ("bfloat16", "float8", "float4", "int4", "uint4", "int2", "uint2")


_PACKED_BITS = {"int4": 4, "uint4": 4, "float4_e2m1fn": 4, "int2": 2, "uint2": 2}


def _unpack(raw: bytes, dtype: Any, shape: list[int]) -> np.ndarray:
    bits = _PACKED_BITS[dtype.name]
    data = np.frombuffer(raw, np.uint8)
    shifts = np.arange(8 // bits, dtype=np.uint8) * bits
    codes = ((data[:, None] >> shifts) & ((1 << bits) - 1)).reshape(-1)
    n = int(np.prod(shape))
    return codes[:n].astype(np.uint8).view(dtype).reshape(shape)


def _ort_run(sess: ort.InferenceSession, feeds: dict[str, Any]) -> list[Any]:
    """sess.run, through OrtValues when a tensor has no numpy type in onnxruntime's Python
    API (bfloat16, float8, int4, ...): the reference values are ml_dtypes arrays."""
    types = [a.type for a in (*sess.get_inputs(), *sess.get_outputs())]
    if not any(t in x for t in _NO_NUMPY_TYPE for x in types):
        return list(sess.run(None, feeds))
    values = {}
    for name, arr in feeds.items():
        if isinstance(arr, np.ndarray) and arr.dtype.type.__module__ == "ml_dtypes":
            element = onnx.helper.np_dtype_to_tensor_dtype(arr.dtype)
            if arr.dtype.name in _PACKED_BITS:  # it would need the packed bytes and the shape
                raise ValueError(f"onnxruntime's Python API takes no {arr.dtype.name} input")
            raw = arr.view(np.dtype(f"u{arr.dtype.itemsize}"))
            values[name] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(raw, element)
        else:
            values[name] = ort.OrtValue.ortvalue_from_numpy(arr)
    outputs = []
    for value in sess.run_with_ort_values([o.name for o in sess.get_outputs()], values):
        try:
            outputs.append(value.numpy())
        except Exception:  # no numpy type: copy the raw bytes and view them as ml_dtypes
            dtype = onnx.helper.tensor_dtype_to_np_dtype(value.element_type())
            size = value.tensor_size_in_bytes()
            raw = ctypes.string_at(value.data_ptr(), size) if size else b""
            if dtype.name in _PACKED_BITS:
                outputs.append(_unpack(raw, dtype, value.shape()))
            else:
                outputs.append(np.frombuffer(raw, dtype).reshape(value.shape()))
    return outputs


def run_onnxruntime(case: Case) -> tuple[dict[str, Any], list[Any]] | Outcome:
    """(feeds, onnxruntime's outputs) if onnxruntime reproduces the reference, else why not."""
    try:
        inputs, expected = load_reference(case)
    except Exception as exc:
        return Outcome(NOT_REPRODUCED, f"reference data unreadable: {_first_line(exc)}")
    try:
        sess = reference_session(case.model)
        names = [i.name for i in sess.get_inputs()]
        feeds = {n: inputs[n] for n in names}
        outputs = _ort_run(sess, feeds)
    except Exception as exc:
        return Outcome(NOT_REPRODUCED, f"onnxruntime fails: {_first_line(exc)}")
    try:
        Runner.assert_similar_outputs(expected, outputs, case.rtol, case.atol)
    except Exception as exc:
        return Outcome(
            NOT_REPRODUCED, f"onnxruntime differs from the reference: {_first_line(exc)}"
        )
    return feeds, outputs


def same(got: Any, want: Any) -> bool:
    """Bit-for-bit the same answer (NaN equal to NaN), dtype and shape included."""
    if isinstance(want, list):
        return isinstance(got, list) and [
            {str(k): float(np.float32(v)) for k, v in m.items()} for m in want
        ] == [{k: float(np.float32(v)) for k, v in m.items()} for m in got]
    if not isinstance(got, np.ndarray) or got.shape != want.shape or got.dtype != want.dtype:
        return False
    if want.dtype == ml_dtypes.bfloat16:
        got, want = got.astype(np.float32), want.astype(np.float32)
    if want.dtype.kind == "f":
        return bool(np.array_equal(got, want, equal_nan=True))
    return bool(np.array_equal(got, want))


def _describe(arr: Any) -> str:
    if isinstance(arr, list):
        return f"list of {len(arr)}"
    return f"{arr.dtype}{list(arr.shape)} {np.asarray(arr).reshape(-1)[:6].tolist()}"


def _bad_requests(
    inputs: dict[str, tuple[np.ndarray, str]],
) -> list[tuple[str, bytes, dict[str, str]]]:
    """Client mistakes on this model's own valid request."""
    j = {"content-type": "application/json"}
    good = json.loads(wire.json_body(inputs))
    cases: list[tuple[str, bytes, dict[str, str]]] = []

    def variant(what: str, change: Any) -> None:
        body = json.loads(json.dumps(good))
        change(body["inputs"])
        cases.append((what, orjson.dumps(body), j))  # NaN, if any, as null: still a mistake

    if not inputs:
        return [("an unknown input", json.dumps({"inputs": [{"name": "nope"}]}).encode(), j)]
    variant("an unknown input name", lambda t: t[0].update(name=t[0]["name"] + "_nope"))
    variant("a missing input", lambda t: t.pop(0))
    variant(
        "a wrong datatype",
        lambda t: t[0].update(datatype="FP64" if t[0]["datatype"] != "FP64" else "FP32"),
    )
    variant(
        "one element too many",
        lambda t: t[0]["data"].append(t[0]["data"][0] if t[0]["data"] else 0),
    )
    variant("a shape with a negative dim", lambda t: t[0].update(shape=[-1, *t[0]["shape"]]))
    variant("data that is not a list", lambda t: t[0].update(data={"x": 1}))
    name = next(iter(inputs))
    arr, datatype = inputs[name]
    body, headers = wire.binary_body({name: (arr, datatype)}, [])
    header = json.loads(body[: int(headers["inference-header-content-length"])])
    header["inputs"][0]["parameters"]["binary_data_size"] += 1
    head = json.dumps(header).encode()
    data = body[int(headers["inference-header-content-length"]) :]
    cases.append(
        (
            "binary_data_size past the end",
            head + data,
            {**headers, "inference-header-content-length": str(len(head))},
        )
    )
    return cases


_SETTINGS: list[ServeSettings] = []


def settings_for(path: Path) -> ServeSettings:
    """Defaults, except: non-finite inputs accepted (reference data holds NaN and Inf) and one
    onnxruntime session (1 thread), so answers are comparable bit for bit."""
    if not _SETTINGS:  # reading the environment once: it costs more than serving a small model
        _SETTINGS.append(
            ServeSettings(model_path=path, allow_non_finite=True, large_intra_op_threads=1)
        )
    return _SETTINGS[0].model_copy(update={"model_path": path})


async def _not_found(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b'{"error": "not found"}'})


def serving_app(settings: ServeSettings) -> FastPath:
    """The server's inference path (fast path + service) without the FastAPI app behind it
    (metadata, health, metrics): building FastAPI's routes costs ~40 ms, serving a model ~10."""
    return FastPath(InferenceService(settings), _not_found, settings.max_body_bytes)


async def check_case(case: Case) -> Outcome:
    reproduced = run_onnxruntime(case)
    if isinstance(reproduced, Outcome):
        return reproduced
    feeds, want = reproduced
    app = serving_app(settings_for(case.model))
    service = app.service
    try:
        await service.startup()
    except ModelLoadError as exc:
        return Outcome(REFUSED, str(exc))
    try:
        await _serve(case, app, feeds, want)
    finally:
        await service.shutdown()
    return Outcome(SERVED)


async def _serve(case: Case, app: Any, feeds: dict[str, Any], want: list[Any]) -> None:
    rt = app.service.runtime
    inputs = {n: (np.asarray(v), rt.input_by_name[n].datatype) for n, v in feeds.items()}
    names = rt.output_names
    maps = frozenset(s.name for s in rt.outputs if s.kind == "seq_map")
    url = f"/v2/models/{rt.name}/infer"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://canaria") as client:
        r = await client.post(
            url, content=wire.json_body(inputs), headers={"content-type": "application/json"}
        )
        assert r.status_code == 200, f"{case.id}: JSON request: {r.status_code} {r.text[:500]}"
        _compare(case, "JSON", rt, wire.parse_json(r.content), names, want)
        body, headers = wire.binary_body(inputs, names)
        r = await client.post(url, content=body, headers=headers)
        assert r.status_code == 200, f"{case.id}: binary request: {r.status_code} {r.text[:500]}"
        length = int(r.headers.get("inference-header-content-length", len(r.content)))
        _compare(case, "binary", rt, wire.parse_binary(r.content, length, maps), names, want)
        for what, bad, bad_headers in _bad_requests(inputs):
            r = await client.post(url, content=bad, headers=bad_headers)
            assert 400 <= r.status_code < 500, f"{case.id}: {what}: {r.status_code} {r.text[:300]}"
            assert isinstance(r.json()["error"], str)


def _compare(
    case: Case,
    how: str,
    rt: Any,
    got: dict[str, tuple[str, Any]],
    names: list[str],
    want: list[Any],
) -> None:
    assert list(got) == names, f"{case.id} ({how}): outputs {list(got)}, expected {names}"
    for name, expected in zip(names, want, strict=True):
        datatype, value = got[name]
        assert datatype == rt.output_by_name[name].datatype
        assert same(value, expected), (
            f"{case.id} ({how}): output {name!r} is {_describe(value)}, onnxruntime "
            f"answers {_describe(expected)}"
        )
