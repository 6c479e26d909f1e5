"""MLflow registry references and artifact locations (pure string handling).

* ``models:/NAME/VERSION`` pins a version, ``models:/NAME@ALIAS`` follows an alias.
* A version's artifact location, as ``model-versions/get-download-uri`` returns it, becomes
  the location the fetch init container downloads the directory from:
  ``mlflow+http(s)://<tracking server>/api/2.0/mlflow-artifacts/artifacts/<path>`` (the
  tracking server's artifact proxy, ``mlflow server --serve-artifacts``), or
  ``mlflow+s3://bucket/prefix`` (the artifact store itself). ``mlflow+`` marks a directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

__all__ = [
    "ARTIFACTS_API",
    "DIRECTORY_PREFIX",
    "S3_PREFIX",
    "RegistryRef",
    "UnsupportedLocation",
    "is_registry_uri",
    "parse_models_uri",
    "proxy_location",
]

ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
DIRECTORY_PREFIX = "mlflow+"
S3_PREFIX = "mlflow+s3://"
# the CRD's rule for spec.model.uri accepts exactly these
_MODELS = re.compile(r"^models:/(?P<name>[^/@\s]+)(?:/(?P<version>[0-9]+)|@(?P<alias>[\w-]+))$")


class UnsupportedLocation(ValueError):
    """An artifact location the fetch cannot download a directory from."""


@dataclass(frozen=True)
class RegistryRef:
    name: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        return (
            f"models:/{self.name}@{self.alias}"
            if self.alias
            else f"models:/{self.name}/{self.version}"
        )

    def pinned(self, version: str) -> str:
        return f"models:/{self.name}/{version}"


def is_registry_uri(uri: str) -> bool:
    return uri.startswith("models:/")


def parse_models_uri(uri: str) -> RegistryRef:
    m = _MODELS.match(uri)
    if m is None:
        raise ValueError(f"{uri!r} is not models:/NAME/VERSION or models:/NAME@ALIAS")
    return RegistryRef(m["name"], m["version"], m["alias"])


def proxy_location(tracking_uri: str, download_uri: str) -> str:
    """Where the fetch downloads the version's directory from (see the module docstring)."""
    base = tracking_uri.rstrip("/")
    if download_uri.startswith("mlflow-artifacts:/") and not download_uri.startswith(
        "mlflow-artifacts://"
    ):
        path = download_uri.removeprefix("mlflow-artifacts:").lstrip("/")
    elif download_uri.startswith("mlflow-artifacts://"):
        # another server's proxy: mlflow-artifacts://host:port/path (plain HTTP, as MLflow)
        parts = urlsplit(download_uri)
        base, path = f"http://{parts.netloc}", parts.path.lstrip("/")
    elif download_uri.startswith(("http://", "https://")) and ARTIFACTS_API in download_uri:
        base, _, path = download_uri.partition(ARTIFACTS_API)
        path = path.lstrip("/")
    elif download_uri.startswith("s3://") and "/" in download_uri.removeprefix("s3://"):
        # the artifact store itself (a tracking server without --serve-artifacts)
        return f"{DIRECTORY_PREFIX}{download_uri.rstrip('/')}"
    else:
        raise UnsupportedLocation(
            f"artifact location {download_uri!r} is neither behind an MLflow artifact proxy "
            "(mlflow server --serve-artifacts) nor in S3"
        )
    return f"{DIRECTORY_PREFIX}{base}{ARTIFACTS_API}/{quote(path, safe='/-_.~')}"
