"""`canaria package ... --register NAME --tracking-uri URI`: log the packaged ONNX model as a
new version of a registered model in MLflow.

The only module that imports ``mlflow`` (the optional extra ``canaria[mlflow]``; the operator
and the serving image never do, see the import-linter contracts). The model is logged with
MLflow's onnx flavor (``model.onnx`` with its tensors as external data files, as MLflow saves
by default), the model card as the run artifact ``model_card.json``, and the version tagged
with the file's sha256 and the directory's digest (:mod:`canaria_serving.modeldir`), read
back through MLflow's own client: the digest the operator pins when it resolves the version.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canaria_serving.modeldir import directory_digest, file_sha256

__all__ = ["TAG_DIGEST", "TAG_SHA256", "Registered", "register_onnx"]

TAG_SHA256 = "canaria.dev/sha256"
TAG_DIGEST = "canaria.dev/digest"


@dataclass(frozen=True)
class Registered:
    name: str
    version: str
    sha256: str  # of the .onnx file given
    digest: str  # of the model directory as stored in the registry

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def register_onnx(onnx_file: Path, name: str, tracking_uri: str) -> Registered:
    """Log ``onnx_file`` (and its external data) as a new version of ``name``."""
    try:
        import mlflow
        import mlflow.onnx
        import onnx
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "--register needs the mlflow package: pip install 'canaria[mlflow]'"
        ) from exc
    with warnings.catch_warnings():
        # MLflow warns about type hints and environments that do not concern an ONNX model
        warnings.simplefilter("ignore")
        return _register(mlflow, onnx, onnx_file, name, tracking_uri)


def _register(mlflow: Any, onnx: Any, onnx_file: Path, name: str, tracking_uri: str) -> Registered:
    from canaria_serving import contract

    mlflow.set_tracking_uri(tracking_uri)
    model = onnx.load(str(onnx_file))
    meta = {p.key: p.value for p in model.metadata_props}
    card = (
        json.loads(meta[contract.ONNX_METADATA_KEY]) if contract.ONNX_METADATA_KEY in meta else {}
    )
    with mlflow.start_run(run_name=f"canaria package {name}"):
        if card:
            mlflow.log_dict(card, "model_card.json")
        info = mlflow.onnx.log_model(
            model, name="model", registered_model_name=name, save_as_external_data=True
        )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    # the version's directory as stored (a models:/ download would add registered_model_meta)
    location = client.get_model_version_download_uri(name, version)
    with tempfile.TemporaryDirectory(prefix="canaria-register-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=tmp)
        digest = directory_digest(Path(local))
    sha = file_sha256(onnx_file)
    client.set_model_version_tag(name, version, TAG_SHA256, sha)
    client.set_model_version_tag(name, version, TAG_DIGEST, digest)
    if card:
        summary = {k: card.get(k) for k in ("name", "version", "task", "feature_names")}
        client.set_model_version_tag(name, version, "canaria.dev/model-card", json.dumps(summary))
    return Registered(name, version, sha, digest)
