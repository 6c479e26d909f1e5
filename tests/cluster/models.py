"""Tiny ONNX models for cluster tests (their serving pods fetch them from the model store)."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def add_one_model(path: Path) -> Path:
    """y = x + 1 on float rows of 2 features."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [2], [1.0, 1.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        initializer=[one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
