"""kwok's configuration: simulated nodes for the scale benchmark (``up --kwok-nodes N``).

kwok v0.8.0 has no built-in stages; the builder copies the upstream "fast" ones next to the
binary, and they are used as they are: pods on a kwok node become Ready at once, with an IP
from ``POD_CIDR`` that nothing ever connects to. Pods that must run go to the real node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["FAKE_NODE_ANNOTATION", "POD_CIDR", "node_manifest", "write_kwok_config"]

FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
POD_CIDR = "127.1.0.0/16"
UPSTREAM_STAGES = (
    "node-initialize",
    "node-heartbeat-with-lease",
    "pod-ready",
    "pod-complete",
    "pod-delete",
)


def load_stages(stage_dir: Path) -> list[dict[str, Any]]:
    stages = []
    for name in UPSTREAM_STAGES:
        path = stage_dir / f"{name}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"no kwok stage {path}: run `canaria dev-cluster build`")
        stage = yaml.safe_load(path.read_text())
        stages.append(stage)
    return stages


def write_kwok_config(stage_dir: Path, path: Path) -> Path:
    path.write_text(yaml.safe_dump_all(load_stages(stage_dir), sort_keys=False))
    return path


def node_manifest(name: str) -> dict[str, Any]:
    """A fake Node that kwok manages. No taint: the scale benchmark cordons the real node,
    so the serving pods of hundreds of ModelDeployments land here and never run."""
    key, value = FAKE_NODE_ANNOTATION
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
    }
