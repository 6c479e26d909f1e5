"""The Gateway API CRDs (standard channel), for testing traffic router ``GatewayAPI``.

They are YAML files in the ``sigs.k8s.io/gateway-api`` Go module, so they come through the
same Go module proxy as the cluster's binaries (no other download) and are cached beside them.
The dev cluster installs no Gateway controller: tests check the objects the operator writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .gobuild import BuildError
from .paths import testbin_root

__all__ = ["GATEWAY_API_MODULE", "GATEWAY_API_VERSION", "crd_files"]

GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
GATEWAY_API_VERSION = "v1.4.0"
_CRDS = ("gatewayclasses", "gateways", "httproutes", "referencegrants")


def crd_files() -> list[Path]:
    """Paths of the CRD manifests, fetched once per machine."""
    folder = testbin_root() / f"gateway-api-{GATEWAY_API_VERSION}"
    files = [folder / f"gateway.networking.k8s.io_{name}.yaml" for name in _CRDS]
    if all(f.is_file() for f in files):
        return files
    go = shutil.which("go")
    if go is None:
        raise BuildError("Go is not installed: the Gateway API CRDs come from its module proxy")
    spec = f"{GATEWAY_API_MODULE}@{GATEWAY_API_VERSION}"
    proc = subprocess.run(
        [go, "mod", "download", "-json", spec], capture_output=True, text=True, check=False
    )
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = {}
    if proc.returncode != 0 and not info.get("Dir"):
        raise BuildError(f"`go mod download {spec}` failed: {info.get('Error') or proc.stderr}")
    source = Path(info["Dir"]) / "config" / "crd" / "standard"
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(source / f.name, f)
    return files
