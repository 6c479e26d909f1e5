"""Operator benchmark on the dev cluster (not a test): reaction time, scale, memory.

    canaria dev-cluster up --kwok-nodes 3; eval "$(canaria dev-cluster env)"
    kubectl apply -f charts/canaria/crds/      # a fresh cluster has no CRDs yet
    .venv/bin/python bench/operator_bench.py [--count 300]

Starts `canaria operator` on a fresh namespace and measures, in the same run (the real node is
cordoned meanwhile, so the pods of hundreds of ModelDeployments land on kwok's simulated
nodes, which mark them Ready without running them: 600 real servers would not fit in memory):

1. apply -> serving Deployment created (``--latency-samples`` ModelDeployments, one at a time),
   side by side with two baselines: an API round trip (create a ConfigMap) and Kubernetes' own
   Deployment controller (Deployment created -> its ReplicaSet appears). Target: p50 < 1 s.
2. ``--count`` ModelDeployments created at once -> all phase Ready. Target: within 120 s.
3. The operator's peak RSS over the whole run (sampled from /proc). Target: <= 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from canaria_operator.kube import DEPLOYMENTS, MODELDEPLOYMENTS, Kube, KubeError, Resource

CONFIGMAPS = Resource("", "v1", "configmaps")
REPLICASETS = Resource("apps", "v1", "replicasets")
NAMESPACES = Resource("", "v1", "namespaces")
PEERINGS = Resource("kopf.dev", "v1", "kopfpeerings")
NODES = Resource("", "v1", "nodes")
REAL_NODE = "canaria-node"
SHA = "0" * 64  # never fetched: the pods run on kwok nodes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


ROUTER = {"mode": "Builtin"}


def _md(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"uri": f"https://models.local/{name}.onnx", "version": "v1", "sha256": SHA},
            "rollout": {"traffic": {"router": ROUTER["mode"]}},
        },
    }


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": "canaria.local/pause:3.10"}]},
            },
        },
    }


async def _until(probe: Any, limit: float, step: float = 0.01) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if await probe():
            return time.perf_counter() - start
        await asyncio.sleep(step)
    raise TimeoutError(f"not within {limit}s")


class Operator:
    def __init__(self, namespace: str, log: Path) -> None:
        self.health, self.metrics = _free_port(), _free_port()
        env = {
            **os.environ,
            "CANARIA_OPERATOR_HEALTH_PORT": str(self.health),
            "CANARIA_OPERATOR_METRICS_PORT": str(self.metrics),
            "CANARIA_OPERATOR_PEERING_LIFETIME": "10",
        }
        argv = [sys.executable, "-m", "canaria_operator.cli", "operator", "-n", namespace]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.peak_rss = 0.0

    async def wait_healthy(self) -> None:
        async with httpx.AsyncClient() as client:

            async def ok() -> bool:
                try:
                    r = await client.get(f"http://127.0.0.1:{self.health}/healthz", timeout=1)
                except httpx.HTTPError:
                    return False
                return r.is_success

            await _until(ok, 30, 0.2)

    async def sample_rss(self, stop: asyncio.Event) -> None:
        while not stop.is_set() and self.proc.poll() is None:
            self.peak_rss = max(self.peak_rss, _rss_mb(self.proc.pid))
            await asyncio.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def latency(kube: Kube, ns: str, samples: int) -> dict[str, dict[str, float]]:
    """Operator vs API round trip vs Deployment controller, interleaved sample by sample."""
    results: dict[str, list[float]] = {"operator": [], "api_roundtrip": [], "deploy_controller": []}
    for i in range(samples):
        t0 = time.perf_counter()
        await kube.create(CONFIGMAPS, ns, {"metadata": {"name": f"rt-{i}"}, "data": {"k": "v"}})
        await kube.get(CONFIGMAPS, ns, f"rt-{i}")
        results["api_roundtrip"].append(time.perf_counter() - t0)

        name = f"lat-{i}"
        t0 = time.perf_counter()
        await kube.create(MODELDEPLOYMENTS, ns, _md(name))

        async def deployed(name: str = name) -> bool:
            return await kube.get(DEPLOYMENTS, ns, f"{name}-v1") is not None

        await _until(deployed, 30)
        results["operator"].append(time.perf_counter() - t0)

        name = f"plain-{i}"
        t0 = time.perf_counter()
        await kube.create(DEPLOYMENTS, ns, _deployment(name))

        async def replicaset(name: str = name) -> bool:
            return bool(await kube.list(REPLICASETS, ns, f"app={name}"))

        await _until(replicaset, 30)
        results["deploy_controller"].append(time.perf_counter() - t0)
    return {
        k: {"p50_ms": 1000 * statistics.median(v), "p90_ms": 1000 * _p(v, 0.9)}
        for k, v in results.items()
    }


async def scale(kube: Kube, ns: str, count: int, limit: float) -> dict[str, float]:
    sem = asyncio.Semaphore(16)

    async def create(i: int) -> None:
        async with sem:
            await kube.create(MODELDEPLOYMENTS, ns, _md(f"s{i:04d}"))

    t0 = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(count)))
    created = time.perf_counter() - t0
    first_all_deployed = None
    ready = 0
    while time.perf_counter() - t0 < limit:
        items = (await kube.request("GET", MODELDEPLOYMENTS.path(ns)))["items"]
        mine = [m for m in items if m["metadata"]["name"].startswith("s")]
        if first_all_deployed is None:
            deps = await kube.list(DEPLOYMENTS, ns, "app.kubernetes.io/managed-by=canaria-operator")
            if sum(1 for d in deps if d["metadata"]["name"].startswith("s")) >= count:
                first_all_deployed = time.perf_counter() - t0
        ready = sum(1 for m in mine if (m.get("status") or {}).get("phase") == "Ready")
        if ready >= count:
            return {
                "created_s": created,
                "all_deployments_s": first_all_deployed or 0.0,
                "all_ready_s": time.perf_counter() - t0,
                "ready": ready,
            }
        await asyncio.sleep(1)
    return {"created_s": created, "all_ready_s": float("inf"), "ready": ready}


async def _cordon(kube: Kube, on: bool) -> None:
    """The real node takes no new pods during the run (kwok's nodes get them)."""
    await kube.request(
        "PATCH",
        NODES.path(None, REAL_NODE),
        body={"spec": {"unschedulable": on or None}},
        content_type="application/merge-patch+json",
    )


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--latency-samples", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--keep", action="store_true", help="keep the namespace afterwards")
    ap.add_argument(
        "--router",
        choices=("Builtin", "Replicas"),
        default="Builtin",
        help="traffic mode of the ModelDeployments (Builtin: each one also gets a router)",
    )
    args = ap.parse_args()
    ROUTER["mode"] = args.router

    kube = await Kube.connect(os.environ.get("KUBECONFIG"))
    nodes = (await kube.request("GET", NODES.path()))["items"]
    if not [n for n in nodes if n["metadata"]["name"] != REAL_NODE]:
        print("no simulated nodes: run `canaria dev-cluster up --kwok-nodes 3` first")
        return 2
    await _cordon(kube, True)
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    await kube.request("POST", NAMESPACES.path(), body={"metadata": {"name": ns}})
    await kube.create(
        PEERINGS,
        ns,
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "canaria"}},
    )
    log = Path(tempfile.mkdtemp(prefix="operator-bench-")) / "operator.log"
    op = Operator(ns, log)
    stop = asyncio.Event()
    sampler = asyncio.create_task(op.sample_rss(stop))
    try:
        await op.wait_healthy()
        lat = await latency(kube, ns, args.latency_samples)
        big = await scale(kube, ns, args.count, args.timeout)
    finally:
        stop.set()
        await sampler
        op.stop()
        await _cordon(kube, False)
        if not args.keep:
            try:
                await kube.request("DELETE", NAMESPACES.path(None, ns))
            except KubeError as exc:
                print(f"cleanup: {exc}", file=sys.stderr)
        await kube.close()

    op_p50 = lat["operator"]["p50_ms"]
    targets = {
        "apply->Deployment p50 < 1 s": op_p50 < 1000,
        f"{args.count} Ready within {args.timeout:.0f} s": big["all_ready_s"] <= args.timeout,
        "operator RSS <= 300 MB": op.peak_rss <= 300,
    }
    report = {
        "apply_to_deployment_ms": lat,
        "ratios": {
            "operator_p50 / api_roundtrip_p50": op_p50 / lat["api_roundtrip"]["p50_ms"],
            "operator_p50 / deployment_controller_p50": op_p50 / lat["deploy_controller"]["p50_ms"],
        },
        f"{args.count}_modeldeployments": big,
        "operator_peak_rss_mb": round(op.peak_rss, 1),
        "targets": targets,
        "operator_log": str(log),
    }
    print(json.dumps(report, indent=2))
    return 0 if all(targets.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
