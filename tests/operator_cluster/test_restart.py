"""The operator SIGKILLed in the middle of reconciling: a restarted one ends in the same state
with no duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from canaria_operator.api import ModelDeployment
from canaria_operator.settings import OperatorSettings
from canaria_operator.workloads import ANNOTATION_SPEC_HASH, Artifact, build_version
from tests.cluster.kube import kubectl_json, wait_for
from tests.operator_cluster.conftest import image_env
from tests.operator_cluster.support import Models, OperatorProcess, apply_md, get, owned

pytestmark = pytest.mark.cluster
COUNT = 8


def _names() -> list[str]:
    return [f"m{i}" for i in range(COUNT)]


def _ready(cluster: Any, ns: str) -> int:
    items = kubectl_json(cluster, "get", "md", "-n", ns)["items"]
    return sum(1 for md in items if (md.get("status") or {}).get("phase") == "Ready")


def test_restart_mid_reconcile_converges_without_duplicates(
    crds: Any, namespace: str, tmp_path: Path, models: Models, dev_image: str
) -> None:
    for name in _names():
        apply_md(crds, namespace, name, {"model": models("v1")})
    env = image_env(dev_image)
    first = OperatorProcess(crds, namespace, tmp_path / "first.log", env=env)
    first.start()
    wait_for(
        "a first Deployment",
        lambda: (
            owned(crds, namespace, "deployment", "m0") or owned(crds, namespace, "deployment", "m1")
        ),
        timeout=30,
    )
    first.kill()
    ready_at_kill = _ready(crds, namespace)
    assert ready_at_kill < COUNT, "the operator finished before it was killed: nothing tested"

    second = OperatorProcess(crds, namespace, tmp_path / "second.log", env=env)
    second.start()
    try:
        wait_for(f"all {COUNT} Ready", lambda: _ready(crds, namespace) == COUNT, timeout=180)
    finally:
        second.stop()

    settings = OperatorSettings(image=dev_image, image_pull_policy="Never")
    for name in _names():
        deployments = owned(crds, namespace, "deployment", name)
        services = owned(crds, namespace, "service", name)
        replicasets = owned(crds, namespace, "replicaset", name)
        assert [d["metadata"]["name"] for d in deployments] == [f"{name}-v1"]
        routers = owned(crds, namespace, "deployment", name, component="router")
        assert [d["metadata"]["name"] for d in routers] == [f"{name}-router"]
        assert [s["metadata"]["name"] for s in services] == [f"{name}-stable"]
        assert len(replicasets) == 1, [r["metadata"]["name"] for r in replicasets]
        # the same end state as a straight run: exactly what the builders produce
        body = get(crds, namespace, "md", name)
        assert body is not None
        md = ModelDeployment.parse(body)
        want = build_version(
            md,
            Artifact.from_spec(md.spec.model),
            born="stable",
            role="stable",
            image=settings.image,
            pull_policy=settings.image_pull_policy,
            pod_annotations=settings.pod_annotations,
        )
        got = deployments[0]["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
        assert got == want.deployment["metadata"]["annotations"][ANNOTATION_SPEC_HASH]
        assert body["status"]["observedGeneration"] == body["metadata"]["generation"]
