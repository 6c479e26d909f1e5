"""The served schema of an ONNX graph: V2 datatypes, declared dims, batchability.

The graph is the authority: every input and output is described by its V2 datatype and its
declared dims (a fixed size, a symbol such as ``batch_size``, or unnamed), or by no shape at
all (any rank). onnxruntime reports an unknown rank and a scalar alike (``[]``), so the dims
come from the ONNX graph itself; the list of inputs and outputs comes from onnxruntime (it
leaves out initializers that old models also list as inputs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ml_dtypes
import numpy as np

__all__ = [
    "BF16",
    "DATATYPES",
    "SEQ_MAP",
    "Dims",
    "SchemaError",
    "TensorSpec",
    "batch_dimension",
    "declared_dims",
    "shared_symbols",
    "spec_of",
    "v2_datatype",
]

BF16 = np.dtype(ml_dtypes.bfloat16)

# onnxruntime element type -> (V2 datatype, numpy dtype)
_ELEMENTS: dict[str, tuple[str, Any]] = {
    "float": ("FP32", np.float32),
    "double": ("FP64", np.float64),
    "float16": ("FP16", np.float16),
    "bfloat16": ("BF16", BF16),
    "int8": ("INT8", np.int8),
    "int16": ("INT16", np.int16),
    "int32": ("INT32", np.int32),
    "int64": ("INT64", np.int64),
    "uint8": ("UINT8", np.uint8),
    "uint16": ("UINT16", np.uint16),
    "uint32": ("UINT32", np.uint32),
    "uint64": ("UINT64", np.uint64),
    "bool": ("BOOL", np.bool_),
    "string": ("BYTES", np.object_),
}
DATATYPES = tuple(v for v, _ in _ELEMENTS.values())
SEQ_MAP = "seq_map"  # a sequence of maps (ZipMap): served as a list of JSON objects

Dim = int | str | None  # fixed size, symbol, unnamed
Dims = tuple[Dim, ...] | None


class SchemaError(Exception):
    """An input or output that the V2 protocol cannot carry; the message says which and why."""


def v2_datatype(ort_type: str) -> str:
    """The V2 datatype of an onnxruntime type string (``tensor(float)`` -> ``FP32``)."""
    if ort_type.startswith("tensor(") and ort_type[7:-1] in _ELEMENTS:
        return _ELEMENTS[ort_type[7:-1]][0]
    return ort_type


@dataclass(frozen=True, slots=True)
class TensorSpec:
    name: str
    datatype: str  # V2 datatype
    dtype: Any  # numpy dtype
    dims: tuple[Dim, ...] | None  # None: the graph declares no shape (any rank)
    kind: str = "tensor"  # or SEQ_MAP
    shape: tuple[int, ...] = field(init=False)  # V2 metadata: -1 = variable
    fixed: tuple[tuple[int, int], ...] = field(init=False)  # (axis, size) of the fixed dims

    def __post_init__(self) -> None:
        dims = self.dims
        shape = (-1,) if dims is None else tuple(d if isinstance(d, int) else -1 for d in dims)
        object.__setattr__(self, "shape", shape)
        fixed = tuple((a, d) for a, d in enumerate(dims or ()) if isinstance(d, int))
        object.__setattr__(self, "fixed", fixed)

    @property
    def any_rank(self) -> bool:
        return self.dims is None

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": self.name,
            "datatype": self.datatype,
            "shape": list(self.shape),
        }
        if self.dims is None:
            meta["parameters"] = {"any_rank": True}
        if self.kind == SEQ_MAP:
            meta["parameters"] = {"content": "one JSON object per row (ZipMap)"}
        return meta

    def describe(self) -> str:
        shape = "any shape" if self.dims is None else str(list(self.shape))
        return f"{self.name!r} ({self.datatype} {shape})"


def declared_dims(value_info: Any) -> tuple[Dim, ...] | None:
    """The dims an ONNX ValueInfoProto declares; None if it declares no shape."""
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims: list[Dim] = []
    for d in tensor.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(str(d.dim_param))
        else:
            dims.append(None)
    return tuple(dims)


def _ort_dims(shape: Any) -> tuple[Dim, ...]:
    return tuple(
        d if isinstance(d, int) and d >= 0 else d if isinstance(d, str) and d else None
        for d in (shape or [])
    )


def spec_of(arg: Any, declared: dict[str, tuple[Dim, ...] | None], role: str) -> TensorSpec:
    """The spec of an onnxruntime NodeArg; ``declared``: the graph's dims by name."""
    ort_type: str = arg.type
    if ort_type.startswith("tensor(") and ort_type.endswith(")"):
        element = ort_type[7:-1]
        if element not in _ELEMENTS:
            raise SchemaError(
                f"{role} {arg.name!r} is {ort_type}: the V2 protocol has no datatype for "
                f"{element} (served datatypes: {', '.join(DATATYPES)})"
            )
        datatype, dtype = _ELEMENTS[element]
        dims = declared[arg.name] if arg.name in declared else _ort_dims(arg.shape)
        return TensorSpec(arg.name, datatype, np.dtype(dtype), dims)
    if role == "output" and ort_type.startswith("seq(map("):
        return TensorSpec(arg.name, "BYTES", np.dtype(np.object_), (None,), kind=SEQ_MAP)
    what = "a sequence" if ort_type.startswith("seq(") else "not a tensor"
    if ort_type.startswith("map("):
        what = "a map"
    elif ort_type.startswith("optional("):
        what = "an optional"
    hint = ""
    if role == "output" and ort_type.startswith("seq("):
        hint = "; only sequences of maps (ZipMap) are served"
    raise SchemaError(
        f"{role} {arg.name!r} is {ort_type}, {what}: the V2 protocol carries tensors only{hint}"
    )


def shared_symbols(inputs: Sequence[TensorSpec]) -> dict[str, tuple[tuple[str, int], ...]]:
    """Symbols that the graph uses at more than one place of its inputs: (input, axis) each."""
    where: dict[str, list[tuple[str, int]]] = {}
    for spec in inputs:
        for axis, d in enumerate(spec.dims or ()):
            if isinstance(d, str):
                where.setdefault(d, []).append((spec.name, axis))
    return {s: tuple(places) for s, places in where.items() if len(places) > 1}


def batch_dimension(inputs: Iterable[TensorSpec], outputs: Iterable[TensorSpec]) -> bool:
    """Whether requests can be stacked along axis 0: every input and output has a variable
    leading dimension and the graph names it the same wherever it names it (unnamed leading
    dims, as skl2onnx writes them, count as that same dimension)."""
    symbols: set[str] = set()
    for spec in (*inputs, *outputs):
        if spec.kind == SEQ_MAP:  # ZipMap: one map per row
            continue
        if not spec.dims:  # scalar or any rank
            return False
        lead = spec.dims[0]
        if isinstance(lead, int):
            return False
        if isinstance(lead, str):
            symbols.add(lead)
    return len(symbols) <= 1
