"""Strict input validation against the ONNX graph: names, datatypes, shapes, values.

Each violation raises :class:`BadRequest` naming the input and what was expected. Conversion
to numpy runs in C (``np.asarray`` on the decoded JSON lists): no Python loop per element.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from canaria_serving.runtime.model import TensorSpec
from canaria_serving.server.errors import BadRequest

__all__ = ["Limits", "describe", "from_bytes", "to_tensor"]

_NUMERIC_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}


@dataclass(frozen=True, slots=True)
class Limits:
    max_rows: int
    allow_non_finite: bool


def describe(spec: TensorSpec) -> str:
    return f"{spec.name!r} ({spec.datatype} {list(spec.shape)})"


def _check_shape(spec: TensorSpec, shape: Any, limits: Limits) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequest(
            f"input {spec.name!r}: shape must be a list of non-negative integers, got {shape!r}"
        )
    if len(shape) != len(spec.shape) or any(
        want >= 0 and got != want for got, want in zip(shape, spec.shape, strict=True)
    ):
        raise BadRequest(
            f"input {spec.name!r}: shape {shape} does not match the model's {list(spec.shape)}"
            " (-1 = any size)"
        )
    if shape and shape[0] > limits.max_rows:
        raise BadRequest(
            f"input {spec.name!r}: {shape[0]} rows is more than the limit of {limits.max_rows}"
        )
    if shape and shape[0] == 0:
        raise BadRequest(f"input {spec.name!r}: at least one row is required")
    return tuple(shape)


def _convert(spec: TensorSpec, data: Any) -> np.ndarray:
    if not isinstance(data, list):
        raise BadRequest(
            f"input {spec.name!r}: data must be a JSON array, got {type(data).__name__}"
        )
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(
            f"input {spec.name!r}: data is not a regular array of values ({exc})"
        ) from None
    kind = arr.dtype.kind
    if spec.datatype == "BYTES":
        if kind != "U" and arr.size:
            raise BadRequest(f"input {spec.name!r}: expected strings for BYTES, got {arr.dtype}")
        return arr.astype(object)
    allowed = _NUMERIC_KINDS.get(spec.dtype.kind, "fiu")
    if arr.size and kind not in allowed:
        what = {"f": "numbers", "i": "integers", "u": "integers", "b": "booleans"}.get(
            spec.dtype.kind, "numbers"
        )
        found = (
            "strings"
            if kind == "U"
            else "mixed or non-numeric values"
            if kind == "O"
            else str(arr.dtype)
        )
        raise BadRequest(f"input {spec.name!r}: expected {what} for {spec.datatype}, got {found}")
    if spec.dtype.kind in "iu" and arr.size:
        info = np.iinfo(spec.dtype)
        if arr.min() < info.min or arr.max() > info.max:
            raise BadRequest(f"input {spec.name!r}: value out of range for {spec.datatype}")
    return arr


def _all_finite(arr: np.ndarray) -> bool:
    if arr.dtype.itemsize <= 4:
        # one reduction instead of two: a float64 sum of float32 values cannot overflow, so it
        # is finite exactly when every element is
        return math.isfinite(float(arr.sum(dtype=np.float64)))
    return bool(np.isfinite(arr).all())


def _check_datatype(spec: TensorSpec, datatype: Any) -> None:
    if datatype != spec.datatype:
        raise BadRequest(
            f"input {spec.name!r}: datatype {datatype!r} does not match the model's {spec.datatype}"
        )


def _check_finite(spec: TensorSpec, out: np.ndarray, limits: Limits) -> np.ndarray:
    if out.dtype.kind == "f" and not limits.allow_non_finite and not _all_finite(out):
        raise BadRequest(
            f"input {spec.name!r}: contains NaN or infinite values (or values too large for "
            f"{spec.datatype}), which this server rejects"
        )
    return out


def from_bytes(
    spec: TensorSpec, raw: memoryview, shape: Any, datatype: Any, limits: Limits
) -> np.ndarray:
    """One input of the binary tensor data extension: raw little-endian values, zero-copy."""
    _check_datatype(spec, datatype)
    if spec.datatype == "BYTES":
        raise BadRequest(f"input {spec.name!r}: BYTES inputs must be sent as JSON data, not binary")
    dims = _check_shape(spec, shape, limits)
    dtype = spec.dtype.newbyteorder("<")
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise BadRequest(
            f"input {spec.name!r}: binary_data_size is {len(raw)} bytes, but shape "
            f"{list(dims)} of {spec.datatype} needs {expected}"
        )
    out = np.frombuffer(raw, dtype=dtype).reshape(dims)
    return _check_finite(spec, out, limits)


def to_tensor(spec: TensorSpec, data: Any, shape: Any, datatype: Any, limits: Limits) -> np.ndarray:
    """Validate one input and return it as a numpy array of the model's dtype and shape."""
    _check_datatype(spec, datatype)
    dims = _check_shape(spec, shape, limits)
    arr = _convert(spec, data)
    expected = math.prod(dims)
    if arr.size != expected:
        raise BadRequest(
            f"input {spec.name!r}: data has {arr.size} elements, "
            f"but shape {list(dims)} needs {expected}"
        )
    if arr.ndim > 1 and arr.shape != dims:
        raise BadRequest(
            f"input {spec.name!r}: nested data has shape {list(arr.shape)}, declared {list(dims)}"
        )
    return _check_finite(spec, arr.reshape(dims).astype(spec.dtype, copy=False), limits)
