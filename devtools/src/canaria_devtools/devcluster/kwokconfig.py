"""kwok's configuration: the upstream "fast" stages, adjusted for the local pod runner.

kwok v0.8.0 has no built-in stages; the builder copies the upstream ones next to the binary.
Changes made here:

- ``pod-ready`` and ``pod-complete`` skip runner pods (see :mod:`.podrule`): kwok must not
  mark them Ready or Succeeded;
- ``canaria-runner-pod-ip`` (new) gives a runner pod its IP from kwok's pool (127.1.0.0/16)
  and ``NotReady``/``ContainerCreating`` statuses; from then on the runner owns its status.

``pod-delete`` (delete pods with a deletionTimestamp at once) applies to every pod; the runner
stops a pod's processes when it sees the pod go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .podrule import KWOK_QUERY

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

_RUNNER_STATUS = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: PodScheduled
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  type: Initialized
  reason: ContainersNotInitialized
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  type: Ready
  reason: ContainersNotReady
- lastTransitionTime: {{ $now | Quote }}
  status: "False"
  type: ContainersReady
  reason: ContainersNotReady
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    waiting:
      reason: ContainerCreating
{{ end }}
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) \
( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Pending
startTime: {{ $now | Quote }}
"""


def _runner_stage() -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "canaria-runner-pod-ip"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {
                "matchExpressions": [
                    {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                    {"key": ".status.podIP", "operator": "DoesNotExist"},
                    {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
                    {"key": KWOK_QUERY, "operator": "In", "values": ["true"]},
                ]
            },
            "next": {"statusTemplate": _RUNNER_STATUS},
        },
    }


def load_stages(stage_dir: Path) -> list[dict[str, Any]]:
    stages = []
    for name in UPSTREAM_STAGES:
        path = stage_dir / f"{name}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"no kwok stage {path}: run `canaria dev-cluster build`")
        stage = yaml.safe_load(path.read_text())
        if name in ("pod-ready", "pod-complete"):
            stage["spec"]["selector"]["matchExpressions"].append(
                {"key": KWOK_QUERY, "operator": "NotIn", "values": ["true"]}
            )
        stages.append(stage)
    stages.append(_runner_stage())
    return stages


def write_kwok_config(stage_dir: Path, path: Path) -> Path:
    path.write_text(yaml.safe_dump_all(load_stages(stage_dir), sort_keys=False))
    return path


def node_manifest(name: str) -> dict[str, Any]:
    """A fake Node that kwok manages (no taints: every pod may land on it)."""
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
