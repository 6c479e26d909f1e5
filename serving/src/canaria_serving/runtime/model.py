"""Load an ONNX model into onnxruntime and derive its schema from the graph itself.

The model card (optional, in the ONNX ``metadata_props``) adds the name, version, feature
names, class labels and the drift reference; the graph alone is always the authority for
input names, datatypes and shapes. Any graph onnxruntime runs is served as long as its
inputs are tensors of a V2 datatype and its outputs are such tensors or ZipMap's sequence of
maps; anything else is refused at load with a message naming the input or output.
"""

from __future__ import annotations

import ctypes
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from canaria_serving import contract
from canaria_serving.modelcard import ModelCard
from canaria_serving.runtime import warmup
from canaria_serving.runtime.loading import (
    ModelLoadError,
    external_files,
    read_graph,
    resolve_model_file,
    session,
    sha256_of,
)
from canaria_serving.runtime.schema import (
    BF16,
    SEQ_MAP,
    Dims,
    SchemaError,
    TensorSpec,
    batch_dimension,
    declared_dims,
    shared_symbols,
    spec_of,
    v2_datatype,
)

__all__ = ["ModelLoadError", "ModelRuntime", "TensorSpec", "load_model", "v2_datatype"]

log = logging.getLogger("canaria.serve")
Outputs = list[Any]  # numpy arrays; a list of dicts for a sequence-of-maps output

_LABEL_NAMES = ("label", "output_label")
_PROBA_NAMES = ("probabilities", "output_probability", "probability")
_BF16_ONNX_TYPE = 16


def _role(specs: tuple[TensorSpec, ...], names: tuple[str, ...], kinds: str) -> str | None:
    for name in names:
        for s in specs:
            if s.name == name and (s.kind == SEQ_MAP or s.dtype.kind in kinds):
                return s.name
    return None


class ModelRuntime:
    """One loaded model: session, schema, card, identity. Thread-safe for ``run``."""

    def __init__(
        self,
        session: ort.InferenceSession,
        card: ModelCard | None,
        sha256: str,
        name: str,
        version: str,
        *,
        declared: dict[str, Dims] | None = None,
        graph_classes: list[str] | None = None,
    ) -> None:
        self.session = session
        self.card = card
        self.sha256 = sha256
        self.name = name
        self.version = version
        values = declared or {}
        try:
            self.inputs = tuple(spec_of(a, values, "input") for a in session.get_inputs())
            self.outputs = tuple(spec_of(a, values, "output") for a in session.get_outputs())
        except SchemaError as exc:
            raise ModelLoadError(f"cannot serve this model: {exc}") from None
        self.input_by_name = {s.name: s for s in self.inputs}
        self.output_by_name = {s.name: s for s in self.outputs}
        self.output_names = [s.name for s in self.outputs]
        self.symbols = shared_symbols(self.inputs)
        self.batchable = batch_dimension(self.inputs, self.outputs)
        self._ortvalue_io = any(s.dtype == BF16 for s in (*self.inputs, *self.outputs))
        strings = [s.name for s in self.inputs if s.datatype == "BYTES"]
        if self._ortvalue_io and strings:
            raise ModelLoadError(
                f"cannot serve this model: it takes BYTES input {strings[0]!r} and has BF16 "
                "tensors; onnxruntime's Python API can pass bfloat16 only as OrtValues, which "
                "cannot hold strings"
            )
        self._ml_roles(card, graph_classes)
        self.single = self.inputs[0] if len(self.inputs) == 1 else None
        dims = self.single.dims if self.single is not None else None
        self.n_features = (
            dims[1]
            if dims is not None and len(dims) == 2 and isinstance(dims[1], int) and dims[1] > 0
            else None
        )
        self.feature_names: list[str] = []
        if (
            card is not None
            and self.n_features is not None
            and len(card.feature_names) == self.n_features
        ):
            self.feature_names = list(card.feature_names)
        elif self.n_features is not None:
            self.feature_names = [f"f{i}" for i in range(self.n_features)]
        self.feature_index = {n: i for i, n in enumerate(self.feature_names)}
        self.ready = False
        self.warm_seconds = 0.0  # the warm-up inference's duration: slow models run off-loop
        self.large_session = session  # used for requests the server runs in a worker thread

    def _ml_roles(self, card: ModelCard | None, graph_classes: list[str] | None) -> None:
        """Which outputs are a classifier's labels and probabilities, or a regressor's values."""
        outs = self.outputs
        self.proba_output = _role(outs, _PROBA_NAMES, "f")
        self.label_output = _role(outs, _LABEL_NAMES, "iuO")
        if card is not None:
            self.task = card.task
        else:
            self.task = "classification" if self.label_output else "regression"
        floats = [s.name for s in outs if s.kind != SEQ_MAP and s.dtype.kind == "f"]
        if self.task == "classification":
            self.value_output = self.label_output
        else:
            self.value_output = floats[0] if floats else None
        self.classes: list[str] = []
        if self.task == "classification":
            spec = self.output_by_name.get(self.proba_output) if self.proba_output else None
            width = spec.shape[-1] if spec is not None and spec.kind != SEQ_MAP else -1
            label = self.output_by_name[self.label_output] if self.label_output else None
            if card is not None and card.classes:
                self.classes = list(card.classes)
            elif graph_classes:
                self.classes = list(graph_classes)
            elif width > 0 and (label is None or label.dtype.kind in "iu"):
                self.classes = [str(i) for i in range(width)]
            # else: no known classes; labels get a series as they appear (up to the limit)

    def _session_run(
        self, sess: ort.InferenceSession, feeds: dict[str, np.ndarray], names: list[str]
    ) -> Outputs:
        if not self._ortvalue_io:
            out: Outputs = sess.run(names, feeds)
            return out
        # onnxruntime's Python API has no numpy type for bfloat16: pass raw OrtValues
        values = {
            k: ort.OrtValue.ortvalue_from_numpy_with_onnx_type(v.view(np.uint16), _BF16_ONNX_TYPE)
            if v.dtype == BF16
            else ort.OrtValue.ortvalue_from_numpy(v)
            for k, v in feeds.items()
        }
        results = sess.run_with_ort_values(names, values)
        return [
            _from_ortvalue(r, self.output_by_name[n]) for r, n in zip(results, names, strict=True)
        ]

    def run(
        self, feeds: dict[str, np.ndarray], output_names: list[str] | None = None
    ) -> tuple[Outputs, float]:
        """Run the model; return the outputs and the seconds spent in onnxruntime."""
        t0 = time.perf_counter()
        out = self._session_run(self.session, feeds, output_names or self.output_names)
        return out, time.perf_counter() - t0

    def run_large(
        self, feeds: dict[str, np.ndarray], output_names: list[str] | None = None
    ) -> tuple[Outputs, float]:
        """Like :meth:`run`, on the session tuned for many rows (call it from a thread)."""
        t0 = time.perf_counter()
        out = self._session_run(self.large_session, feeds, output_names or self.output_names)
        return out, time.perf_counter() - t0

    def warm_up(self) -> str | None:
        """Warm both sessions up with inputs that fit; then the model is ready.

        Raises :class:`ModelLoadError` if the model fails on its model card's reference row
        (it cannot be served). Returns a warning (and still becomes ready) if it fails on
        every generated input: some graphs only run on meaningful values.
        """
        row = warmup.card_row(self.card, self.single, self.n_features)
        if row:
            try:
                self._warm(row)
            except Exception as exc:
                raise ModelLoadError(
                    f"the model fails on its model card's reference row (the median of each "
                    f"feature): {exc}"
                ) from exc
            self.ready = True
            return None
        errors = []
        for what, feeds in warmup.generated(self.inputs):
            try:
                self._warm(feeds)
            except Exception as exc:
                errors.append(f"{what}: {str(exc).splitlines()[0] if str(exc) else exc!r}")
                continue
            self.ready = True
            return None
        self.ready = True
        self.warm_seconds = float("inf")  # unknown cost: never run it on the event loop
        return (
            "the warm-up inference failed on every generated input, so the first requests "
            "will be slower; the model is served anyway (" + "; ".join(errors) + ")"
        )

    def _warm(self, feeds: dict[str, np.ndarray]) -> None:
        # the first call also initializes, and a busy machine can stall any one call: the
        # fastest of up to 5 calls (at most ~0.2 s of them) is the model's cost
        times: list[float] = []
        stop = time.perf_counter() + 0.2
        while len(times) < 5 and (not times or time.perf_counter() < stop):
            times.append(self.run(feeds)[1])
        self.warm_seconds = min(times)
        if self.large_session is not self.session:
            self.run_large(feeds)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": "onnxruntime_onnx",
            "inputs": [s.metadata() for s in self.inputs],
            "outputs": [s.metadata() for s in self.outputs],
        }


def _from_ortvalue(value: Any, spec: TensorSpec) -> Any:
    if spec.dtype != BF16:
        return value.numpy()
    shape = tuple(value.shape())
    size = value.tensor_size_in_bytes()
    raw = bytes((ctypes.c_char * size).from_address(value.data_ptr())) if size else b""
    return np.frombuffer(raw, dtype=np.uint16).view(BF16).reshape(shape)


_CLASSIFIER_OPS = ("ZipMap", "LinearClassifier", "TreeEnsembleClassifier", "SVMClassifier")


def _graph_classes(graph: Any) -> list[str] | None:
    """Class labels that an ai.onnx.ml classifier node declares (skl2onnx writes them)."""
    for node in graph.node:
        if node.op_type in _CLASSIFIER_OPS and node.domain == "ai.onnx.ml":
            for attr in node.attribute:
                if attr.name == "classlabels_strings" and attr.strings:
                    return [v.decode("utf-8", "replace") for v in attr.strings]
                if attr.name == "classlabels_int64s" and attr.ints:
                    return [str(v) for v in attr.ints]
    return None


def _read_card(session: ort.InferenceSession, path: Path) -> ModelCard | None:
    raw = session.get_modelmeta().custom_metadata_map.get(contract.ONNX_METADATA_KEY)
    if raw is None:
        return None
    try:
        return ModelCard.from_json(raw)
    except ValueError as exc:
        log.warning("ignoring the unreadable model card in %s: %s", path, exc)
        return None


def load_model(
    path: Path,
    name: str | None = None,
    version: str | None = None,
    intra_op_threads: int = 1,
    large_intra_op_threads: int | None = None,
) -> ModelRuntime:
    """Load ``path`` (an .onnx file, or a directory holding one and its external data);
    raise :class:`ModelLoadError` with a clear message on failure.

    ``large_intra_op_threads`` (if not None and different) adds a second session for large
    requests: one thread is fastest for single rows, several for thousands of rows.
    """
    file = resolve_model_file(path)
    proto = read_graph(file)
    files = [file, *external_files(proto, file.parent)]
    declared = {v.name: declared_dims(v) for v in (*proto.graph.input, *proto.graph.output)}
    classes = _graph_classes(proto.graph)
    del proto  # the dims are plain tuples: the graph (and any weights in it) can go
    sess = session(file, intra_op_threads)
    large = None
    if large_intra_op_threads is not None and large_intra_op_threads != intra_op_threads:
        large = session(file, large_intra_op_threads, spin=True)
    card = _read_card(sess, file)
    resolved_name = name or (card.name if card else file.stem)
    resolved_version = version or (card.version if card else "1")
    sha = sha256_of(files)
    rt = ModelRuntime(
        sess,
        card,
        sha,
        resolved_name,
        resolved_version,
        declared=declared,
        graph_classes=classes,
    )
    rt.large_session = large or sess
    return rt
