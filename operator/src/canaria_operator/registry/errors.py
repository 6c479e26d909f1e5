"""Why a registry call failed: one class per condition reason the operator reports."""

from __future__ import annotations

__all__ = [
    "ArtifactChanged",
    "NotAnOnnxModel",
    "RegistryAuthFailed",
    "RegistryError",
    "RegistryNotFound",
    "RegistryRefused",
    "RegistryUnreachable",
]


class RegistryError(Exception):
    """A registry call failed; ``reason`` is the status condition's reason."""

    reason = "RegistryError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RegistryUnreachable(RegistryError):
    """No answer, a timeout or a 5xx: may succeed later (the current version keeps serving)."""

    reason = "RegistryUnreachable"


class RegistryAuthFailed(RegistryError):
    """401 or 403: the credentials Secret's token or user/password is refused."""

    reason = "RegistryAuthFailed"


class RegistryNotFound(RegistryError):
    """The registered model, the version or the alias does not exist."""

    reason = "RegistryModelNotFound"


class RegistryRefused(RegistryError):
    """Another 4xx: the request itself was refused."""

    reason = "RegistryRequestRefused"


class NotAnOnnxModel(RegistryError):
    """The version's artifact holds no ONNX model Canaria can serve."""

    reason = "RegistryArtifactNotOnnx"


class ArtifactChanged(RegistryError):
    """The same registry version now holds different bytes than the digest pinned in status
    (MLflow keeps no checksum of its own)."""

    reason = "RegistryArtifactChanged"
