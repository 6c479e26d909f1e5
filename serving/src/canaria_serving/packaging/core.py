"""`package_model`: estimator + sample -> ONNX bytes with the model card, after a parity check."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from canaria_serving import contract
from canaria_serving.modelcard import InputSchema, ModelCard
from canaria_serving.packaging.convert import convert, describe, is_classifier, onnx_outputs
from canaria_serving.packaging.errors import PackagingError
from canaria_serving.packaging.loading import (
    Sample,
    expected_features,
    load_estimator,
    load_sample,
    make_sample,
)
from canaria_serving.packaging.parity import DEFAULT_TOLERANCE, Parity, check_parity
from canaria_serving.packaging.reference import feature_reference, prediction_reference
from canaria_serving.runtime.schema import v2_datatype

__all__ = ["PackagedModel", "package_file", "package_model", "schema_of", "write_packaged"]


@dataclass(frozen=True)
class PackagedModel:
    onnx_bytes: bytes
    card: ModelCard
    parity: Parity

    @property
    def sha256(self) -> str:
        """sha256 of the file as written: what `spec.model.sha256` and `canaria fetch` check."""
        return hashlib.sha256(self.onnx_bytes).hexdigest()


def schema_of(args: Any) -> list[InputSchema]:
    return [
        InputSchema(
            name=a.name,
            datatype=v2_datatype(a.type),
            shape=[d if isinstance(d, int) and d >= 0 else -1 for d in (a.shape or [])],
        )
        for a in args
    ]


def package_model(
    est: Any,
    sample: Sample | Any,
    *,
    name: str,
    version: str,
    feature_names: list[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    created: str | None = None,
) -> PackagedModel:
    """Convert, check parity on the sample, compute reference statistics, embed the card.

    ``created`` (RFC 3339) defaults to now; pin it for byte-reproducible files.
    """
    import onnxruntime as ort

    n_expected, names = expected_features(est)
    if not isinstance(sample, Sample):
        sample = make_sample(sample, feature_names or names, n_expected)
    classifier = is_classifier(est)
    proto = convert(est, sample.x.shape[1])
    content = proto.SerializeToString()
    try:
        sess = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PackagingError(f"onnxruntime cannot load the converted model: {exc}") from exc
    outputs = onnx_outputs(sess, sample.x)
    parity = check_parity(est, sample.x, outputs, classifier=classifier, tolerance=tolerance)
    predictions = outputs["label"] if classifier else outputs["variable"]
    classes = getattr(est, "classes_", None)
    card = ModelCard(
        name=name,
        version=version,
        task="classification" if classifier else "regression",
        feature_names=sample.feature_names,
        classes=[str(c) for c in classes] if classifier and classes is not None else None,
        inputs=schema_of(sess.get_inputs()),
        outputs=schema_of(sess.get_outputs()),
        content_sha256=hashlib.sha256(content).hexdigest(),
        sklearn_estimator=describe(est),
        parity=parity.as_dict(),
        features=[feature_reference(n, sample.x[:, i]) for i, n in enumerate(sample.feature_names)],
        predictions=prediction_reference(np.asarray(predictions), classifier=classifier),
        sample_rows=int(sample.x.shape[0]),
        created=created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    entry = proto.metadata_props.add()
    entry.key, entry.value = contract.ONNX_METADATA_KEY, card.to_json()
    proto.producer_name = "canaria"
    proto.model_version = int(version) if version.isdigit() else 0
    return PackagedModel(proto.SerializeToString(), card, parity)


def write_packaged(packaged: PackagedModel, out: Path) -> Path:
    """Write the model atomically and a `sha256sum`-compatible ``<out>.sha256``; returns it."""
    if not out.parent.is_dir():
        raise PackagingError(f"{out.parent}: output directory does not exist")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(packaged.onnx_bytes)
    tmp.replace(out)
    sidecar = out.with_name(out.name + ".sha256")
    sidecar.write_text(f"{packaged.sha256}  {out.name}\n")
    return sidecar


def package_file(
    model: Path,
    sample: Path,
    out: Path,
    *,
    name: str | None = None,
    version: str = "1",
    tolerance: float = DEFAULT_TOLERANCE,
) -> PackagedModel:
    """The CLI's work: load, package, write. Raises PackagingError with a clear message."""
    if not out.parent.is_dir():
        raise PackagingError(f"{out.parent}: output directory does not exist")
    est = load_estimator(model)
    data = load_sample(sample, est)
    packaged = package_model(est, data, name=name or out.stem, version=version, tolerance=tolerance)
    write_packaged(packaged, out)
    return packaged
