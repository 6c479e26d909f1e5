"""KubernetesSource: table building (pure) and watching a REAL API server (dev cluster)."""

from __future__ import annotations

import asyncio
import ipaddress
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from canaria_operator.router.kube_source import KubernetesSource, build_table
from canaria_operator.router.table import Backend


def pod(
    name: str,
    track: str,
    version: str,
    ip: str | None = "127.1.0.5",
    ready: bool = True,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {
            "canaria.dev/model": "m",
            "canaria.dev/track": track,
            "canaria.dev/version": version,
            "app.kubernetes.io/component": "serving",
        },
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]
    }
    if ip:
        status["podIP"] = ip
    return {"metadata": meta, "status": status}


def md(stable: str, canary: str | None, weight: int, mirror: int = 0) -> dict[str, Any]:
    status: dict[str, Any] = {
        "stable": {"version": stable, "uri": "u"},
        "rollout": {"canaryWeight": weight, "mirrorPercent": mirror},
    }
    if canary:
        status["canary"] = {"version": canary, "uri": "u"}
    return {"metadata": {"name": "m"}, "status": status}


def test_build_table_ready_pods_by_version() -> None:
    pods = [
        pod("a", "stable", "v1", "127.1.0.1"),
        pod("b", "canary", "v2", "127.1.0.2"),
        pod("c", "canary", "v2", "127.1.0.3", ready=False),
        pod("d", "canary", "v2", None),
        pod("e", "stable", "v1", "127.1.0.4", deleting=True),
    ]
    t = build_table(pods, md("v1", "v2", 25, 10), 8080)
    assert t.stable == (Backend("127.1.0.1", 8080),)
    assert t.canary == (Backend("127.1.0.2", 8080),)
    assert (t.canary_weight, t.mirror_percent) == (25, 10)


def test_build_table_after_promotion_swap() -> None:
    # the promoted Deployment's pods still say track=canary but serve the stable version
    pods = [pod("old", "stable", "v1", "127.1.0.1"), pod("new", "canary", "v2", "127.1.0.2")]
    t = build_table(pods, md("v2", None, 0), 8080)
    assert t.stable == (Backend("127.1.0.2", 8080),)
    assert t.canary == ()  # the warm old stable gets no traffic
    assert build_table(pods, None, 8080).stable == (Backend("127.1.0.1", 8080),)


# --- against the dev cluster ------------------------------------------------------------------


async def eventually(check: Callable[[], bool], within: float = 30.0) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


@pytest.mark.cluster
async def test_watches_pods_and_status_on_real_api_server(dev_cluster: Any) -> None:
    from canaria_devtools.devcluster.nodeconfig import PAUSE_IMAGE
    from canaria_operator.kube.client import Kube
    from canaria_operator.kube.paths import MODELDEPLOYMENTS, PODS
    from tests.operator_cluster.support import install_crds

    install_crds(dev_cluster)  # the test must not depend on another having installed them
    kube = await Kube.connect(str(dev_cluster.kubeconfig))
    ns = f"router-{uuid.uuid4().hex[:6]}"
    await kube.request(
        "POST",
        "/api/v1/namespaces",
        body={"metadata": {"name": ns}, "apiVersion": "v1", "kind": "Namespace"},
    )
    src = KubernetesSource(ns, "m", 8080, str(dev_cluster.kubeconfig))
    task = asyncio.ensure_future(src.run())
    try:
        await kube.create(
            MODELDEPLOYMENTS,
            ns,
            {
                "apiVersion": "canaria.dev/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": "m"},
                "spec": {
                    "model": {
                        "uri": "http://127.0.0.1:9/m.onnx",
                        "version": "v1",
                        "sha256": "0" * 64,
                    }
                },
            },
        )
        await kube.patch_status(MODELDEPLOYMENTS, ns, "m", md("v1", "v2", 20)["status"])
        for name, track, version in (("m-stable", "stable", "v1"), ("m-canary", "canary", "v2")):
            await kube.create(
                PODS,
                ns,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": name,
                        "labels": pod(name, track, version)["metadata"]["labels"],
                    },
                    # a real container on the node (it need not serve: the router only
                    # watches which pods are Ready, and where)
                    "spec": {
                        "containers": [
                            {"name": "serve", "image": PAUSE_IMAGE, "imagePullPolicy": "Never"}
                        ]
                    },
                },
            )
        await eventually(
            lambda: (
                src.synced
                and len(src.current.stable) == 1
                and len(src.current.canary) == 1
                and src.current.canary_weight == 20
            )
        )
        pod_net = ipaddress.ip_network(dev_cluster.net.pod_cidr)
        backends = src.current.stable + src.current.canary
        assert all(ipaddress.ip_address(b.host) in pod_net for b in backends)
        await kube.patch_status(MODELDEPLOYMENTS, ns, "m", {"rollout": {"canaryWeight": 60}})
        took = await eventually(lambda: src.current.canary_weight == 60, within=5)
        assert took < 1.0, f"weight change applied after {took:.2f}s"
        # promotion swap: status says v2 is stable now, no canary
        canary_ip = src.current.canary[0].host
        await kube.patch_status(
            MODELDEPLOYMENTS,
            ns,
            "m",
            {
                "stable": {"version": "v2", "uri": "u"},
                "canary": None,
                "rollout": {"canaryWeight": 0},
            },
        )
        await eventually(lambda: [b.host for b in src.current.stable] == [canary_ip], within=5)
        await kube.delete(PODS, ns, "m-canary")
        await eventually(
            lambda: src.current.stable == () or [b.host for b in src.current.stable] != [canary_ip],
            within=30,
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await kube.request("DELETE", f"/api/v1/namespaces/{ns}")
        await kube.close()
