"""Third-party ONNX models with reference data: the ONNX project's backend test cases.

Sources (all from the ``onnx`` wheel, nothing downloaded):

* ``node``: every operator test case that ``onnx.backend.test.case.node`` generates with its
  own seeds (written once per onnx version by ``generate.py`` into a cache directory);
* ``simple``, ``pytorch-converted``, ``pytorch-operator``: the models and
  ``test_data_set_*/{input,output}_*.pb`` shipped in ``onnx/backend/test/data`` (PyTorch
  exports with dynamic axes, several inputs and outputs);
* ``light``: the small CNNs shipped there (AlexNet, DenseNet, Inception, ResNet, ShuffleNet,
  SqueezeNet, VGG, ZFNet) with their reference output; their input is the one the onnx backend
  runner generates for them (``arange(n) / n``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

__all__ = ["Case", "discover", "load_reference"]

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
SHIPPED = ("simple", "pytorch-converted", "pytorch-operator")
CACHE = Path(
    os.environ.get("CANARIA_ONNX_CASES", Path.home() / ".cache" / "canaria" / "onnx-node-cases")
)


@dataclass(frozen=True)
class Case:
    source: str
    name: str
    directory: Path
    model: Path
    rtol: float = 1e-3
    atol: float = 1e-7

    @property
    def id(self) -> str:
        return f"{self.source}/{self.name}"


def node_cases_dir() -> Path:
    """The generated node cases of this onnx version (made once, ~10 s)."""
    target = CACHE / onnx.__version__
    if (target / ".complete").exists():
        return target
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    script = Path(__file__).with_name("generate.py")
    subprocess.run(
        [sys.executable, "-W", "ignore", str(script), str(tmp)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (tmp / ".complete").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def discover() -> list[Case]:
    cases: list[Case] = []
    node_dir = node_cases_dir()
    cases += [
        Case("node", d.name, d, d / "model.onnx") for d in sorted(node_dir.iterdir()) if d.is_dir()
    ]
    for source in SHIPPED:
        cases += [
            Case(source, d.name, d, d / "model.onnx")
            for d in sorted((DATA / source).iterdir())
            if (d / "model.onnx").is_file()
        ]
    cases += [
        Case("light", p.stem.removeprefix("light_"), p.parent, p)
        for p in sorted((DATA / "light").glob("light_*.onnx"))
    ]
    return cases


def _read(path: Path, type_proto: Any) -> Any:
    raw = path.read_bytes()
    if type_proto.HasField("sequence_type"):
        seq = onnx.SequenceProto()
        seq.ParseFromString(raw)
        return numpy_helper.to_list(seq)
    if type_proto.HasField("optional_type"):
        opt = onnx.OptionalProto()
        opt.ParseFromString(raw)
        return numpy_helper.to_optional(opt)
    if type_proto.HasField("map_type"):
        m = onnx.MapProto()
        m.ParseFromString(raw)
        return numpy_helper.to_dict(m)
    tensor = onnx.TensorProto()
    tensor.ParseFromString(raw)
    return numpy_helper.to_array(tensor)


def _light_input(value_info: Any) -> np.ndarray:
    """The input onnx's backend runner makes for a light model (generate_dummy_data)."""
    shape = tuple(
        d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim
    )
    n = int(np.prod(shape))
    return (np.arange(n).reshape(shape) / n).astype(np.float32)


def load_reference(case: Case) -> tuple[dict[str, Any], list[Any]]:
    """(inputs by graph input name, expected outputs in graph order) of the first data set."""
    model = onnx.load(str(case.model), load_external_data=False)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in initializers]
    if case.source == "light":
        inputs = {i.name: _light_input(i) for i in real_inputs}
        expected = [
            _read(case.directory / f"light_{case.name}_output_{j}.pb", o.type)
            for j, o in enumerate(graph.output)
        ]
        return inputs, expected
    data = case.directory / "test_data_set_0"
    inputs = {}
    for j, info in enumerate(graph.input):
        path = data / f"input_{j}.pb"
        if path.is_file():
            inputs[info.name] = _read(path, info.type)
    expected = [_read(data / f"output_{j}.pb", o.type) for j, o in enumerate(graph.output)]
    return inputs, expected
