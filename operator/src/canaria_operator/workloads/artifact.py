"""The model artifact a track runs: from spec.model (new) or status.<track> (what runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from canaria_operator.api.spec import ModelRef
from canaria_operator.api.status import TrackStatus

__all__ = ["Artifact", "StorageKind", "storage_kind"]

StorageKind = Literal["file", "http", "s3", "pvc", "mlflow"]
# an MLflow model directory behind a tracking server's artifact proxy (registry/uri.py)
MLFLOW_PREFIX = "mlflow+"


def storage_kind(uri: str) -> StorageKind:
    if uri.startswith(MLFLOW_PREFIX):
        return "mlflow"
    scheme = uri.split("://", 1)[0].lower()
    if scheme in ("http", "https"):
        return "http"
    if scheme in ("file", "s3", "pvc"):
        return scheme  # type: ignore[return-value]
    raise ValueError(f"unsupported model uri scheme {scheme!r} in {uri!r}")


@dataclass(frozen=True)
class Artifact:
    version: str
    uri: str
    sha256: str | None = None  # for kind "mlflow": the directory's digest
    credentials_secret: str | None = None
    source: str | None = None  # the registry version (models:/NAME/VERSION)

    @classmethod
    def from_spec(cls, ref: ModelRef) -> Artifact:
        """The artifact spec.model names (not for a models:/ reference: the registry names
        that one, see reconcile.registry)."""
        assert ref.version is not None, "a models:/ reference is resolved, not read from spec"
        secret = ref.credentials_secret_ref.name if ref.credentials_secret_ref else None
        return cls(ref.version, ref.uri, ref.sha256, secret)

    @classmethod
    def from_status(cls, track: TrackStatus) -> Artifact:
        return cls(track.version, track.uri, track.sha256, track.credentials_secret, track.source)

    @property
    def kind(self) -> StorageKind:
        return storage_kind(self.uri)

    def pvc_claim_and_path(self) -> tuple[str, str]:
        """``pvc://claim/dir/model.onnx`` -> ``("claim", "dir/model.onnx")``."""
        rest = self.uri.split("://", 1)[1]
        claim, _, path = rest.partition("/")
        return claim, path
