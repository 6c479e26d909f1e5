"""V2 request bodies from numpy tensors and answers back to numpy: JSON and binary, by hand.

Written independently of the server's codec (the suite must not check the codec against
itself): JSON data as Python's json writes it (``NaN``/``Infinity`` literals included), binary
data in the Open Inference Protocol's binary tensor data extension layout.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import ml_dtypes
import numpy as np

__all__ = ["NUMPY", "binary_body", "json_body", "parse_binary", "parse_json", "raw"]

NUMPY: dict[str, Any] = {
    "FP32": np.float32,
    "FP64": np.float64,
    "FP16": np.float16,
    "BF16": ml_dtypes.bfloat16,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "BOOL": np.bool_,
    "BYTES": np.object_,
}


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def json_data(arr: np.ndarray, datatype: str) -> list[Any]:
    flat = np.asarray(arr).reshape(-1)
    if datatype == "BYTES":
        return [_text(v) for v in flat.tolist()]
    if datatype == "BF16":
        flat = flat.astype(np.float32)
    return list(flat.tolist())


def raw(arr: np.ndarray, datatype: str) -> bytes:
    flat = np.asarray(arr).reshape(-1)
    if datatype == "BYTES":
        out = b""
        for v in flat.tolist():
            b = v if isinstance(v, bytes) else str(v).encode()
            out += struct.pack("<I", len(b)) + b
        return out
    if datatype == "BF16":
        return np.asarray(flat, dtype=ml_dtypes.bfloat16).view("<u2").tobytes()
    dtype = np.dtype(NUMPY[datatype]).newbyteorder("<")
    return np.ascontiguousarray(flat, dtype=dtype).tobytes()


def json_body(inputs: dict[str, tuple[np.ndarray, str]]) -> bytes:
    tensors = [
        {"name": n, "shape": list(np.shape(a)), "datatype": d, "data": json_data(a, d)}
        for n, (a, d) in inputs.items()
    ]
    return json.dumps({"inputs": tensors}).encode()


def binary_body(
    inputs: dict[str, tuple[np.ndarray, str]], outputs: list[str]
) -> tuple[bytes, dict[str, str]]:
    tensors = []
    chunks = []
    for n, (a, d) in inputs.items():
        chunks.append(raw(a, d))
        tensors.append(
            {
                "name": n,
                "shape": list(np.shape(a)),
                "datatype": d,
                "parameters": {"binary_data_size": len(chunks[-1])},
            }
        )
    header = json.dumps(
        {
            "inputs": tensors,
            "outputs": [{"name": o, "parameters": {"binary_data": True}} for o in outputs],
        }
    ).encode()
    headers = {
        "content-type": "application/octet-stream",
        "inference-header-content-length": str(len(header)),
    }
    return header + b"".join(chunks), headers


def _array(data: list[Any], datatype: str, shape: list[int]) -> Any:
    if datatype == "BYTES" and data and isinstance(data[0], dict):
        return data  # a sequence of maps
    arr = np.empty(len(data), dtype=object)
    arr[:] = data
    if datatype != "BYTES":
        arr = np.asarray(
            data, dtype=np.float64 if datatype in ("FP16", "BF16") else NUMPY[datatype]
        )
    return arr.astype(NUMPY[datatype]).reshape(shape)


def parse_json(body: bytes) -> dict[str, tuple[str, Any]]:
    """{output name: (datatype, numpy array or list of maps)}."""
    answer = json.loads(body)
    return {
        o["name"]: (o["datatype"], _array(o["data"], o["datatype"], o["shape"]))
        for o in answer["outputs"]
    }


def _from_raw(chunk: bytes, datatype: str, shape: list[int], is_map: bool) -> Any:
    if datatype == "BYTES":
        items: list[str] = []
        pos = 0
        while pos < len(chunk):
            (size,) = struct.unpack_from("<I", chunk, pos)
            items.append(chunk[pos + 4 : pos + 4 + size].decode())
            pos += 4 + size
        if is_map:
            return [json.loads(i) for i in items]
        arr = np.empty(len(items), dtype=object)
        arr[:] = items
        return arr.reshape(shape)
    if datatype == "BF16":
        return np.frombuffer(chunk, "<u2").view(ml_dtypes.bfloat16).reshape(shape)
    return np.frombuffer(chunk, np.dtype(NUMPY[datatype]).newbyteorder("<")).reshape(shape)


def parse_binary(
    body: bytes, header_length: int, maps: frozenset[str] = frozenset()
) -> dict[str, tuple[str, Any]]:
    """Like :func:`parse_json`; ``maps``: outputs that are sequences of maps (JSON text)."""
    header = json.loads(body[:header_length])
    pos = header_length
    out = {}
    for o in header["outputs"]:
        size = o["parameters"]["binary_data_size"]
        chunk = body[pos : pos + size]
        out[o["name"]] = (
            o["datatype"],
            _from_raw(chunk, o["datatype"], o["shape"], o["name"] in maps),
        )
        pos += size
    assert pos == len(body), "binary outputs do not add up to the body"
    return out
