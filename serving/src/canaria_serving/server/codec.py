"""Request decoding and response encoding for V2, V1 and the simple ``/predict`` API."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import orjson

from canaria_serving.runtime.model import ModelRuntime
from canaria_serving.runtime.schema import BF16, SEQ_MAP
from canaria_serving.server.errors import BadRequest
from canaria_serving.server.validation import (
    Limits,
    check_symbols,
    describe,
    from_bytes,
    to_tensor,
)

__all__ = [
    "BinaryResponse",
    "V2Request",
    "decode_json",
    "decode_v2",
    "encode_json",
    "encode_v2",
    "records_to_matrix",
    "split_binary",
]

_DUMPS_OPTS = orjson.OPT_SERIALIZE_NUMPY


def decode_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if b"NaN" in body or b"Infinity" in body:  # the literals Python's json writes
            try:
                return json.loads(body)
            except (ValueError, RecursionError):
                pass
        raise BadRequest(f"malformed JSON body: {exc}") from None


def encode_json(obj: Any) -> bytes:
    return orjson.dumps(obj, option=_DUMPS_OPTS, default=_default)


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray | np.generic):
        return (obj.astype(np.float32) if obj.dtype == BF16 else obj).tolist()
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


class V2Request:
    __slots__ = ("binary_outputs", "feeds", "id", "outputs", "rows")

    def __init__(
        self,
        feeds: dict[str, np.ndarray],
        outputs: list[str] | None,
        id_: str | None,
        rows: int | None,
        binary_outputs: frozenset[str] = frozenset(),
    ) -> None:
        self.feeds = feeds
        self.outputs = outputs
        self.id = id_
        self.rows = rows
        self.binary_outputs = binary_outputs


class BinaryResponse(bytes):
    """A binary tensor data extension response: JSON header, then raw output bytes."""

    json_length: int

    def __new__(cls, header: bytes, data: bytes) -> BinaryResponse:
        obj = super().__new__(cls, header + data)
        obj.json_length = len(header)
        return obj


def split_binary(body: bytes, header_length: int) -> tuple[bytes, memoryview]:
    """(JSON header, binary tensor data) of a binary-extension request body."""
    if header_length > len(body):
        raise BadRequest(
            f"Inference-Header-Content-Length is {header_length}, but the body has only "
            f"{len(body)} bytes"
        )
    return body[:header_length], memoryview(body)[header_length:]


def _binary_size(tensor: dict[str, Any], name: str) -> int | None:
    params = tensor.get("parameters")
    if not isinstance(params, dict) or "binary_data_size" not in params:
        return None
    size = params["binary_data_size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadRequest(
            f"input {name!r}: parameters.binary_data_size must be a non-negative integer"
        )
    return size


def _flag(params: Any, key: str) -> bool:
    return isinstance(params, dict) and params.get(key) is True


def _expect_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def decode_v2(
    body: Any, runtime: ModelRuntime, limits: Limits, binary: memoryview | None = None
) -> V2Request:
    """Decode a V2 request; ``binary`` is the data after the JSON header (binary extension)."""
    req = _expect_object(body, "the request body")
    inputs = req.get("inputs")
    if not isinstance(inputs, list) or (not inputs and runtime.inputs):
        raise BadRequest("'inputs' must be a non-empty list of tensors")
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for item in inputs:
        tensor = _expect_object(item, "each entry of 'inputs'")
        name = tensor.get("name")
        spec = runtime.input_by_name.get(name) if isinstance(name, str) else None
        if spec is None:
            expected = ", ".join(describe(s) for s in runtime.inputs)
            raise BadRequest(f"unknown input {name!r}; the model's inputs are {expected}")
        if name in feeds:
            raise BadRequest(f"input {name!r} is given twice")
        for key in ("shape", "datatype"):
            if key not in tensor:
                raise BadRequest(f"input {name!r}: missing {key!r}")
        size = _binary_size(tensor, spec.name)
        if size is None:
            if "data" not in tensor:
                raise BadRequest(f"input {name!r}: missing 'data'")
            feeds[spec.name] = to_tensor(
                spec, tensor["data"], tensor["shape"], tensor["datatype"], limits
            )
            continue
        if binary is None:
            raise BadRequest(
                f"input {name!r}: parameters.binary_data_size needs the binary tensor data "
                "extension (an Inference-Header-Content-Length header)"
            )
        raw = binary[offset : offset + size]
        if len(raw) != size:
            raise BadRequest(
                f"input {name!r}: binary_data_size {size} runs past the end of the body "
                f"({len(binary) - offset} bytes left)"
            )
        offset += size
        feeds[spec.name] = from_bytes(spec, raw, tensor["shape"], tensor["datatype"], limits)
    if binary is not None and offset != len(binary):
        raise BadRequest(
            f"{len(binary) - offset} bytes of binary data follow the last input; the inputs' "
            "binary_data_size values must add up to the body after the JSON header"
        )
    missing = [describe(s) for s in runtime.inputs if s.name not in feeds]
    if missing:
        raise BadRequest(f"missing input(s) {', '.join(missing)}")
    if runtime.symbols:
        check_symbols(runtime.symbols, feeds)
    outputs, binary_outputs = _requested_outputs(req.get("outputs"), runtime)
    if _flag(req.get("parameters"), "binary_data_output"):
        binary_outputs = frozenset(outputs or runtime.output_names)
    request_id = req.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequest("'id' must be a string")
    return V2Request(feeds, outputs, request_id, batch_rows(runtime, feeds), binary_outputs)


def batch_rows(runtime: ModelRuntime, feeds: dict[str, np.ndarray]) -> int | None:
    """The rows of a request that could be stacked with others (None: it runs on its own)."""
    if not runtime.batchable:
        return None
    rows = None
    for a in feeds.values():
        if rows is None:
            rows = a.shape[0]
        elif a.shape[0] != rows:
            return None
    return rows


def _requested_outputs(
    value: Any, runtime: ModelRuntime
) -> tuple[list[str] | None, frozenset[str]]:
    """Requested output names (None: all) and those asked for as binary data."""
    if value is None:
        return None, frozenset()
    if not isinstance(value, list):
        raise BadRequest("'outputs' must be a list of {\"name\": ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    for item in value:
        entry = _expect_object(item, "each entry of 'outputs'")
        name = entry.get("name")
        if name not in runtime.output_by_name:
            raise BadRequest(
                f"unknown output {name!r}; the model's outputs are "
                + ", ".join(runtime.output_names)
            )
        names.append(name)
        if _flag(entry.get("parameters"), "binary_data"):
            binary.add(name)
    return names or None, frozenset(binary)


def _raw(arr: Any) -> bytes:
    """Raw little-endian bytes of a tensor; BYTES as 4-byte-length-prefixed elements."""
    if isinstance(arr, list) or arr.dtype.kind in "OUS":
        parts = []
        for v in arr if isinstance(arr, list) else arr.reshape(-1).tolist():
            b = v if isinstance(v, bytes) else _text(v).encode()
            parts.append(struct.pack("<I", len(b)) + b)
        return b"".join(parts)
    if arr.dtype == BF16:
        return np.ascontiguousarray(arr).view(np.uint16).astype("<u2", copy=False).tobytes()
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def _text(v: Any) -> str:
    """One BYTES element as text; a map (ZipMap) as its JSON object."""
    return orjson.dumps(_json_map(v)).decode() if isinstance(v, dict) else str(v)


def _json_map(m: dict[Any, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in m.items()}


def _finite(arr: np.ndarray) -> bool:
    if arr.dtype.kind != "f" and arr.dtype != BF16:
        return True
    return bool(np.isfinite(arr).all())


def encode_v2(
    runtime: ModelRuntime,
    request_id: str | None,
    names: list[str],
    outputs: list[Any],
    binary: frozenset[str] = frozenset(),
) -> bytes:
    """The V2 response. JSON has no NaN or infinity: a float output holding them is written
    with the literals ``NaN``, ``Infinity``, ``-Infinity`` (as Python's json and tritonclient
    read them); use the binary extension for strict JSON parsers."""
    header = _encode_v2(runtime, request_id, names, outputs, binary, exact=False)
    if b"null" in header:  # orjson writes NaN and infinity as null: look again, exactly
        header = _encode_v2(runtime, request_id, names, outputs, binary, exact=True)
    if binary:
        data = b"".join(_raw(a) for n, a in zip(names, outputs, strict=True) if n in binary)
        return BinaryResponse(header, data)
    return header


def _encode_v2(
    runtime: ModelRuntime,
    request_id: str | None,
    names: list[str],
    outputs: list[Any],
    binary: frozenset[str],
    *,
    exact: bool,
) -> bytes:
    tensors = []
    plain = True
    for name, arr in zip(names, outputs, strict=True):
        spec = runtime.output_by_name[name]
        shape = [len(arr)] if spec.kind == SEQ_MAP else list(arr.shape)
        tensor: dict[str, Any] = {"name": name, "datatype": spec.datatype, "shape": shape}
        if name in binary:
            tensor["parameters"] = {"binary_data_size": _raw_size(arr)}
        elif spec.kind == SEQ_MAP:
            tensor["data"] = [_json_map(m) for m in arr]
        else:
            data: Any = arr.reshape(-1)
            if data.dtype.kind in "OUS":
                data = data.tolist()
            elif exact and not _finite(data):
                plain = False
                data = (data.astype(np.float32) if data.dtype == BF16 else data).tolist()
            elif data.dtype == BF16:
                data = data.astype(np.float32)
            tensor["data"] = data
        tensors.append(tensor)
    response: dict[str, Any] = {
        "model_name": runtime.name,
        "model_version": runtime.version,
        "outputs": tensors,
    }
    if request_id is not None:
        response["id"] = request_id
    return encode_json(response) if plain else json.dumps(response, default=_default).encode()


def _raw_size(arr: Any) -> int:
    if isinstance(arr, list) or arr.dtype.kind in "OUS":
        return len(_raw(arr))
    return int(arr.size) * (2 if arr.dtype == BF16 else arr.dtype.itemsize)


def _record(record: Any, runtime: ModelRuntime, index: int | None) -> Any:
    where = "features" if index is None else f"instance {index}"
    if isinstance(record, dict):
        unknown = [k for k in record if k not in runtime.feature_index]
        if unknown:
            raise BadRequest(
                f"{where}: unknown feature(s) {unknown[:5]}; expected {runtime.feature_names}"
            )
        missing = [n for n in runtime.feature_names if n not in record]
        if missing:
            raise BadRequest(f"{where}: missing feature(s) {missing[:10]}")
        return [record[n] for n in runtime.feature_names]
    if isinstance(record, list):
        if len(record) != runtime.n_features:
            raise BadRequest(
                f"{where}: {len(record)} values, the model expects {runtime.n_features} "
                f"features ({_preview(runtime.feature_names)})"
            )
        return record
    raise BadRequest(f"{where}: expected a list of values or an object of named features")


def _preview(names: list[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def records_to_matrix(
    records: list[Any], runtime: ModelRuntime, limits: Limits, single: bool = False
) -> np.ndarray:
    """Records (lists in feature order, or objects by feature name) -> the model's 2-D input."""
    spec = runtime.single
    if spec is None or runtime.n_features is None:
        raise BadRequest(
            "this model does not take one [rows, features] input; use the V2 endpoint "
            f"/v2/models/{runtime.name}/infer"
        )
    if not records:
        raise BadRequest("at least one instance is required")
    if len(records) > limits.max_rows:
        raise BadRequest(f"{len(records)} instances is more than the limit of {limits.max_rows}")
    rows = [_record(r, runtime, None if single else i) for i, r in enumerate(records)]
    return to_tensor(spec, rows, [len(rows), runtime.n_features], spec.datatype, limits)
