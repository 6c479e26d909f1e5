"""What one reconcile learnt from the registry (pure data; :mod:`.resolve` fills it).

Errors are data: a failed read carries the condition reason and message, and the reconcile
goes on with the version it already serves."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ONNX_FILE", "RegistryRead", "Resolved"]

# The file the fetch serves from a model directory (MLflow's onnx flavor writes it; its
# external data files sit beside it and onnxruntime finds them from its path).
ONNX_FILE = "model.onnx"


@dataclass(frozen=True)
class Resolved:
    """A registry version resolved to the bytes to serve."""

    name: str
    version: str
    location: str  # mlflow+http(s)://.../api/2.0/mlflow-artifacts/artifacts/<dir>
    digest: str  # canaria_serving.modeldir digest of the whole directory
    files: int = 0

    @property
    def source(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegistryRead:
    resolved: Resolved | None = None
    reason: str | None = None  # condition reason when the read failed
    message: str | None = None
    # consecutive failed reads of this reference (this one included), one per poll at most
    failures: int = 0

    @classmethod
    def failed(cls, reason: str, message: str, failures: int = 1) -> RegistryRead:
        return cls(None, reason, message, failures)
