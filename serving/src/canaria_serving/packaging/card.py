"""`canaria card MODEL.onnx --sample DATA`: attach a model card to an ONNX file made elsewhere.

The card (feature names, per-feature reference bins, the prediction distribution on the
sample) is what input drift and the prediction metrics compare live traffic with; `canaria
package` writes one for scikit-learn models, this writes one for any model with one
``[rows, features]`` numeric input (a PyTorch, TensorFlow or skl2onnx export). The model runs
on the sample once, so the card's prediction reference is the model's own.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from canaria_serving import contract
from canaria_serving.modelcard import ModelCard, PredictionReference
from canaria_serving.packaging.core import schema_of
from canaria_serving.packaging.errors import PackagingError
from canaria_serving.packaging.loading import read_sample
from canaria_serving.packaging.reference import feature_reference, prediction_reference

__all__ = ["attach_card", "build_card"]


def _runtime(path: Path) -> Any:
    from canaria_serving.runtime.model import ModelLoadError, load_model

    try:
        return load_model(path)
    except ModelLoadError as exc:
        raise PackagingError(str(exc)) from exc


def _classes(rt: Any, labels: np.ndarray) -> list[str] | None:
    """Class labels in the probability output's column order, when the sample shows them."""
    spec = rt.output_by_name.get(rt.proba_output) if rt.proba_output else None
    width = spec.shape[-1] if spec is not None and spec.dims else -1
    seen = sorted({str(v) for v in labels.ravel().tolist()})
    if width > 0 and labels.dtype.kind in "iu":
        return [str(i) for i in range(width)]
    if width > 0 and len(seen) == width:  # string labels: skl2onnx orders them sorted
        return seen
    return seen or None


def build_card(
    path: Path, sample: Path, *, name: str | None = None, version: str | None = None
) -> ModelCard:
    """The card of the model at ``path`` on ``sample`` (.csv with a header, .npy, .parquet)."""
    rt = _runtime(path)
    spec = rt.single
    if spec is None or rt.n_features is None or spec.dtype.kind not in "fiu":
        found = ", ".join(s.describe() for s in rt.inputs)
        raise PackagingError(
            f"{path}: a model card describes one numeric [rows, features] input; this model "
            f"takes {found}"
        )
    data, columns = read_sample(sample)
    if data.ndim != 2 or data.shape[1] != rt.n_features or data.shape[0] == 0:
        raise PackagingError(
            f"{sample}: the model takes {rt.n_features} features per row; the sample has shape "
            f"{list(data.shape)}"
        )
    if not np.isfinite(data).all():
        raise PackagingError(f"{sample}: the sample holds NaN or infinite values")
    x = data.astype(spec.dtype)
    try:
        outputs, _ = rt.run({spec.name: x})
    except Exception as exc:  # onnxruntime's own exception types
        raise PackagingError(f"{path}: the model fails on the sample: {exc}") from exc
    names = columns or [f"f{i}" for i in range(rt.n_features)]
    value = outputs[rt.output_names.index(rt.value_output)] if rt.value_output else None
    classifier = rt.task == "classification" and value is not None
    predictions = (
        prediction_reference(np.asarray(value), classifier=classifier)
        if value is not None
        else None
    )
    proto_meta = rt.session.get_modelmeta()
    producer = " ".join(p for p in (proto_meta.producer_name, proto_meta.version) if p)
    return ModelCard(
        name=name or path.stem,
        version=version or "1",
        task="classification" if classifier else "regression",
        feature_names=names,
        classes=_classes(rt, np.asarray(value)) if classifier and value is not None else None,
        inputs=schema_of(rt.session.get_inputs()),
        outputs=schema_of(rt.session.get_outputs()),
        content_sha256="",  # filled by attach_card: the file without its card
        sklearn_estimator=f"external ONNX model ({producer or 'unknown producer'})",
        features=[feature_reference(n, data[:, i]) for i, n in enumerate(names)],
        predictions=predictions or PredictionReference(),
        sample_rows=int(data.shape[0]),
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def attach_card(
    path: Path,
    sample: Path,
    out: Path | None = None,
    *,
    name: str | None = None,
    version: str | None = None,
) -> ModelCard:
    """Write ``path`` with its card to ``out`` (default: in place). External data stays where
    it is, so ``out`` must be in the same directory when the model has any."""
    import onnx

    from canaria_serving.runtime.loading import resolve_model_file

    file = resolve_model_file(path) if path.is_dir() else path
    card = build_card(file, sample, name=name, version=version)
    proto = onnx.load(str(file), load_external_data=False)
    kept = [p for p in proto.metadata_props if p.key != contract.ONNX_METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    content = hashlib.sha256(proto.SerializeToString()).hexdigest()
    card = card.model_copy(update={"content_sha256": content})
    entry = proto.metadata_props.add()
    entry.key, entry.value = contract.ONNX_METADATA_KEY, card.to_json()
    target = out or file
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    if external and target.resolve().parent != file.resolve().parent:
        raise PackagingError(
            f"{file} keeps its weights in external data files: write the carded model into "
            f"the same directory ({file.parent}), or omit -o to write it in place"
        )
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(proto.SerializeToString())
    tmp.replace(target)
    return card
