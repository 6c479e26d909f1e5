"""Strict input validation against the ONNX graph: names, datatypes, shapes, values.

Each violation raises :class:`BadRequest` naming the input and what was expected. Every
input is checked against its own declared dims: fixed dims must match, an input the graph
declares without a shape takes any rank, scalars (shape ``[]``) and empty tensors (a zero
dim) are valid, and inputs whose dims share a symbol must agree on its size. Conversion to
numpy runs in C (``np.asarray`` on the decoded JSON lists): no Python loop per element.
"""

from __future__ import annotations

import math
import struct
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from canaria_serving.runtime.schema import BF16, TensorSpec
from canaria_serving.server.errors import BadRequest

__all__ = [
    "Limits",
    "check_symbols",
    "describe",
    "from_bytes",
    "silence_cast_overflow",
    "to_tensor",
]

_NUMERIC_KINDS = {"f": "fiu", "i": "iu", "u": "iu", "b": "b", "V": "fiu"}
_WHAT = {"f": "numbers", "i": "integers", "u": "integers", "b": "booleans", "V": "numbers"}
_LENGTH = struct.Struct("<I")
_ALIGN = 64


@dataclass(frozen=True, slots=True)
class Limits:
    max_rows: int
    allow_non_finite: bool


def silence_cast_overflow() -> None:
    """Values too large for a datatype cast to inf, which the non-finite check then handles:
    numpy's warning about it is noise (and an error where warnings are errors)."""
    warnings.filterwarnings("ignore", "overflow encountered in cast", RuntimeWarning)


def describe(spec: TensorSpec) -> str:
    return spec.describe()


def _check_shape(spec: TensorSpec, shape: Any, limits: Limits) -> tuple[int, ...]:
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise BadRequest(
            f"input {spec.name!r}: shape must be a list of non-negative integers, got {shape!r}"
        )
    dims = spec.dims
    if dims is not None and (
        len(shape) != len(dims) or any(shape[axis] != size for axis, size in spec.fixed)
    ):
        raise BadRequest(
            f"input {spec.name!r}: shape {shape} does not match the model's {list(spec.shape)}"
            " (-1 = any size)"
        )
    if shape and shape[0] > limits.max_rows and (dims is None or not isinstance(dims[0], int)):
        raise BadRequest(
            f"input {spec.name!r}: {shape[0]} rows is more than the limit of {limits.max_rows}"
        )
    return tuple(shape)


def check_symbols(
    symbols: dict[str, tuple[tuple[str, int], ...]], feeds: dict[str, np.ndarray]
) -> None:
    """Inputs whose dims the graph names alike (``batch``, ``seq_len``) must agree on them."""
    for symbol, places in symbols.items():
        sizes = {(name, axis): feeds[name].shape[axis] for name, axis in places if name in feeds}
        if len(set(sizes.values())) > 1:
            found = ", ".join(f"{n!r} axis {a} is {size}" for (n, a), size in sizes.items())
            raise BadRequest(
                f"inputs disagree on dimension {symbol!r}, which the model declares the same "
                f"for all of them: {found}"
            )


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
    want = spec.dtype.kind
    if want in "iu" and kind in "fO" and arr.size:
        arr = _big_integers(spec, data, arr)
        kind = arr.dtype.kind
    if arr.size and kind not in _NUMERIC_KINDS.get(want, "fiu"):
        found = (
            "strings"
            if kind == "U"
            else "mixed or non-numeric values"
            if kind == "O"
            else str(arr.dtype)
        )
        raise BadRequest(
            f"input {spec.name!r}: expected {_WHAT.get(want, 'numbers')} for {spec.datatype}, "
            f"got {found}"
        )
    if want in "iu" and arr.size:
        if kind == "f" and not np.array_equal(arr, np.trunc(arr)):
            raise BadRequest(
                f"input {spec.name!r}: expected integers for {spec.datatype}, got fractions"
            )
        info = np.iinfo(spec.dtype)
        if arr.min() < info.min or arr.max() > info.max:
            raise BadRequest(f"input {spec.name!r}: value out of range for {spec.datatype}")
    return arr


def _big_integers(spec: TensorSpec, data: list[Any], arr: np.ndarray) -> np.ndarray:
    """Integers beyond int64 (UINT64) make numpy guess float or object: read them exactly."""
    flat = np.asarray(data, dtype=object).reshape(-1)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in flat.tolist()):
        return arr
    info = np.iinfo(spec.dtype)
    if min(flat) < info.min or max(flat) > info.max:
        raise BadRequest(f"input {spec.name!r}: value out of range for {spec.datatype}")
    return np.asarray(data, dtype=spec.dtype)


def _all_finite(arr: np.ndarray) -> bool:
    # np.isfinite(...).all() measured faster than a float64 sum (and raises no warnings)
    return bool(np.isfinite(arr).all())


def _check_datatype(spec: TensorSpec, datatype: Any) -> None:
    if datatype != spec.datatype:
        raise BadRequest(
            f"input {spec.name!r}: datatype {datatype!r} does not match the model's {spec.datatype}"
        )


def _check_finite(spec: TensorSpec, out: np.ndarray, limits: Limits) -> np.ndarray:
    if (
        (out.dtype.kind == "f" or out.dtype == BF16)
        and not limits.allow_non_finite
        and not _all_finite(out)
    ):
        raise BadRequest(
            f"input {spec.name!r}: contains NaN or infinite values (or values too large for "
            f"{spec.datatype}), which this server rejects (serve with --allow-non-finite to "
            "accept them)"
        )
    return out


def _strings(spec: TensorSpec, raw: memoryview, count: int) -> np.ndarray:
    """BYTES in the binary extension: each element a 4-byte little-endian length, then bytes."""
    if count * 4 > len(raw):  # before allocating: the shape may be huge and the data tiny
        raise BadRequest(
            f"input {spec.name!r}: {count} BYTES elements need at least {count * 4} bytes, "
            f"binary_data_size is {len(raw)}"
        )
    out = np.empty(count, dtype=object)
    data = bytes(raw)
    pos = 0
    for i in range(count):
        if pos + 4 > len(data):
            raise BadRequest(
                f"input {spec.name!r}: binary BYTES data ends after {i} of {count} elements"
            )
        (size,) = _LENGTH.unpack_from(data, pos)
        pos += 4
        if pos + size > len(data):
            raise BadRequest(
                f"input {spec.name!r}: BYTES element {i} declares {size} bytes, only "
                f"{len(data) - pos} are left"
            )
        try:
            out[i] = data[pos : pos + size].decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(
                f"input {spec.name!r}: BYTES element {i} is not valid UTF-8, which ONNX "
                "strings must be"
            ) from None
        pos += size
    if pos != len(data):
        raise BadRequest(
            f"input {spec.name!r}: {len(data) - pos} bytes follow the last of the {count} BYTES "
            "elements"
        )
    return out


def from_bytes(
    spec: TensorSpec, raw: memoryview, shape: Any, datatype: Any, limits: Limits
) -> np.ndarray:
    """One input of the binary tensor data extension: raw little-endian values, zero-copy."""
    _check_datatype(spec, datatype)
    dims = _check_shape(spec, shape, limits)
    if spec.datatype == "BYTES":
        return _strings(spec, raw, math.prod(dims)).reshape(dims)
    dtype = np.dtype("<u2") if spec.dtype == BF16 else spec.dtype.newbyteorder("<")
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise BadRequest(
            f"input {spec.name!r}: binary_data_size is {len(raw)} bytes, but shape "
            f"{list(dims)} of {spec.datatype} needs {expected}"
        )
    out = np.frombuffer(raw, dtype=dtype).reshape(dims)
    if out.ctypes.data % _ALIGN:
        # onnxruntime's vector kernels answer differently (in the last bits) for data that
        # is not 16-byte aligned; where the body puts it depends on the JSON header's length
        out = out.copy()
    if spec.dtype == BF16:
        out = out.astype(np.uint16, copy=False).view(BF16)
    elif spec.datatype == "BOOL" and out.size and np.frombuffer(raw, np.uint8).max() > 1:
        raise BadRequest(f"input {spec.name!r}: BOOL binary data must be bytes 0 or 1")
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
    # a value too large for the datatype becomes inf (numpy's overflow warning is silenced
    # where the server starts): refused below unless non-finite values are allowed
    out = arr.reshape(dims).astype(spec.dtype, copy=False)
    return _check_finite(spec, out, limits)
