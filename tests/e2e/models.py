"""The models of the end-to-end rollouts, made by `canaria package` (its Python API).

- v1: StandardScaler + LogisticRegression (the first stable)
- v2: RandomForest: a good new version (same predictions on almost every row)
- v5: RandomForest on SHUFFLED labels: fast, no errors, predicts differently
- v3: v2 whose graph fails at run time for rows with petal length > 5 (about a third of iris
  rows): onnxruntime raises, the server answers 500, as a broken model would
- v4: v2 with a chain of matrix products in its graph: correct answers, but slow

v3 and v4 are real ONNX graphs that misbehave inside onnxruntime (no fault switch in the
server): the packaged v2 graph plus nodes whose result is added (times 0) to an output.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from canaria_serving import contract
from canaria_serving.packaging import package_model

__all__ = ["Model", "failing_variant", "iris_rows", "make_models", "slow_variant"]


@dataclass(frozen=True)
class Model:
    version: str
    path: Path
    sha256: str


def iris_rows() -> np.ndarray:
    return np.asarray(load_iris().data, dtype=np.float32)


def failing_variant(raw: bytes, version: str) -> bytes:
    """The model, failing inside onnxruntime for rows with feature 2 > 5."""
    return _with_tail(raw, version, _failing)


def slow_variant(raw: bytes, version: str, rounds: int = 2500) -> bytes:
    """The model, with the same answers, tens of milliseconds slower per request (its 1 MB
    of weights are stored as external data when MLflow saves it)."""
    return _with_tail(raw, version, lambda graph: _slow(graph, rounds=rounds))


def _with_tail(raw: bytes, version: str, build: Callable[[onnx.GraphProto], str]) -> bytes:
    """Rename output ``probabilities``, add the nodes from ``build(graph)`` (returning a
    scalar float tensor name) and add ``tail * 0`` back as ``probabilities``."""
    model = onnx.load_from_string(raw)
    graph = model.graph
    for node in graph.node:
        node.output[:] = ["probabilities_raw" if o == "probabilities" else o for o in node.output]
    tail = build(graph)
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    graph.node.extend(
        [
            helper.make_node("Mul", [tail, "zero"], ["tail_zero"]),
            helper.make_node("Add", ["probabilities_raw", "tail_zero"], ["probabilities"]),
        ]
    )
    for prop in model.metadata_props:
        if prop.key == contract.ONNX_METADATA_KEY:
            card = json.loads(prop.value)
            card["version"] = version
            prop.value = json.dumps(card)
    onnx.checker.check_model(model)
    data: bytes = model.SerializeToString()
    return data


def _failing(graph: onnx.GraphProto) -> str:
    """Gather from a 1-element table at index (petal_length > 5): out of range -> error."""
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([2], np.int64), "col"),
            numpy_helper.from_array(np.array(5.0, np.float32), "limit"),
            numpy_helper.from_array(np.array([1.0], np.float32), "table"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Gather", ["X", "col"], ["petal"], axis=1),
            helper.make_node("Greater", ["petal", "limit"], ["big"]),
            helper.make_node("Cast", ["big"], ["index"], to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "index"], ["picked"], axis=0),
            helper.make_node("ReduceSum", ["picked"], ["picked_sum"], keepdims=0),
        ]
    )
    return "picked_sum"


def _slow(graph: onnx.GraphProto, size: int = 512, rounds: int = 2500) -> str:
    """``rounds`` dependent [1,size]x[size,size] products: a few ms each, none foldable."""
    weights = np.full((size, size), 1.0 / size, np.float32)
    graph.initializer.extend(
        [
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.array([1, size], np.int64), "row_shape"),
        ]
    )
    nodes = [
        helper.make_node("ReduceSum", ["X"], ["x_sum"], keepdims=0),
        helper.make_node("Expand", ["x_sum", "row_shape"], ["v0"]),
    ]
    for i in range(rounds):
        nodes.append(helper.make_node("MatMul", [f"v{i}", "w"], [f"v{i + 1}"]))
    nodes.append(helper.make_node("ReduceSum", [f"v{rounds}"], ["slow_sum"], keepdims=0))
    graph.node.extend(nodes)
    return "slow_sum"


def make_models(folder: Path) -> dict[str, Model]:
    """Write every version's .onnx into ``folder``; returns them by version."""
    iris = load_iris(as_frame=True)
    x = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    y = iris.target.to_numpy()
    shuffled = np.random.default_rng(5).permutation(y)
    estimators = {
        "1": (Pipeline([("s", StandardScaler()), ("c", LogisticRegression(max_iter=500))]), y),
        "2": (RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), y),
        "5": (RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), shuffled),
    }
    raw: dict[str, bytes] = {}
    for version, (est, labels) in estimators.items():
        est.fit(x, labels)
        packaged = package_model(
            est, x, name="iris", version=version, created="2026-11-23T00:00:00Z"
        )
        raw[version] = packaged.onnx_bytes
    raw["3"] = failing_variant(raw["2"], "3")
    raw["4"] = slow_variant(raw["2"], "4")
    out: dict[str, Model] = {}
    for version, data in raw.items():
        path = folder / f"iris-v{version}.onnx"
        path.write_bytes(data)
        out[version] = Model(version, path, hashlib.sha256(data).hexdigest())
    return out
