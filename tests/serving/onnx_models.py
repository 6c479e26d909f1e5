"""Small ONNX graphs built with onnx.helper, for the shapes and types `canaria package` never
makes: several inputs with different leading dims, scalars, strings, every datatype."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ELEMENT = {
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "FP16": TensorProto.FLOAT16,
    "BF16": TensorProto.BFLOAT16,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "BOOL": TensorProto.BOOL,
    "BYTES": TensorProto.STRING,
}


def io(name: str, datatype: str, shape: list[Any] | None) -> Any:
    return helper.make_tensor_value_info(name, ELEMENT[datatype], shape)


def save(
    path: Path,
    nodes: list[Any],
    inputs: list[Any],
    outputs: list[Any],
    initializers: list[np.ndarray] | None = None,
    names: list[str] | None = None,
    opset: int = 17,
) -> Path:
    inits = [
        numpy_helper.from_array(a, n) for a, n in zip(initializers or [], names or [], strict=True)
    ]
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def identity_per_datatype(path: Path, datatypes: list[str]) -> Path:
    """One Identity per datatype: in_<DT> [-1, 2] -> out_<DT>."""
    nodes = [helper.make_node("Identity", [f"in_{d}"], [f"out_{d}"]) for d in datatypes]
    return save(
        path,
        nodes,
        [io(f"in_{d}", d, ["N", 2]) for d in datatypes],
        [io(f"out_{d}", d, ["N", 2]) for d in datatypes],
    )
