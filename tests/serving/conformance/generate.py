"""Write the ONNX node backend test cases (model + reference tensors) to a directory.

``python -W ignore generate.py OUT``: what ``onnx.backend.test.cmd_tools generate-data`` does
for model cases, for the node cases that ``onnx.backend.test.case.node`` builds with its own
seeds, in the layout of the onnx wheel's ``onnx/backend/test/data``:
``OUT/<name>/model.onnx`` and ``OUT/<name>/test_data_set_0/{input,output}_<i>.pb``.
Run in a subprocess: the generators print warnings (division by zero on purpose, ...).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node


def _proto(value: Any, type_proto: Any, name: str) -> bytes:
    if isinstance(value, onnx.TensorProto):
        return bytes(value.SerializeToString())
    if type_proto.HasField("sequence_type"):
        return bytes(numpy_helper.from_list(value, name).SerializeToString())
    if type_proto.HasField("optional_type"):
        return bytes(numpy_helper.from_optional(value, name).SerializeToString())
    if type_proto.HasField("map_type"):
        return bytes(numpy_helper.from_dict(value, name).SerializeToString())
    return bytes(numpy_helper.from_array(value, name).SerializeToString())


def write(out: Path) -> int:
    count = 0
    for case in node.collect_testcases(None):
        assert case.model is not None
        assert case.data_sets is not None
        directory = out / case.name
        data = directory / "test_data_set_0"
        data.mkdir(parents=True, exist_ok=True)
        (directory / "model.onnx").write_bytes(case.model.SerializeToString())
        inputs, outputs = case.data_sets[0]
        graph = case.model.graph
        try:
            for kind, values, infos in (
                ("input", inputs, graph.input),
                ("output", outputs, graph.output),
            ):
                for j, value in enumerate(values):
                    raw = _proto(value, infos[j].type, infos[j].name)
                    (data / f"{kind}_{j}.pb").write_bytes(raw)
        except Exception as exc:  # an optional or sequence that numpy_helper cannot write
            (directory / "unwritable.txt").write_text(f"{type(exc).__name__}: {exc}")
        count += 1
    return count


if __name__ == "__main__":
    print(write(Path(sys.argv[1])))
