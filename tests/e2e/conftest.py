"""The end-to-end stage: dev cluster, the operator (real serving pods, real router), real
Prometheus, models made by `canaria package`, and steady client traffic through the router."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from canaria_serving.contract import OPERATOR_METRICS_PORT
from tests.cluster.kube import attempt, is_ready, kubectl_json, new_namespace, run, wait_for
from tests.e2e.load import LoadGenerator
from tests.e2e.models import Model, iris_rows, make_models
from tests.operator_cluster.support import OperatorProcess, install_crds, md_manifest, peering

NAME = "iris"
INTERVAL = 10  # seconds between analysis rounds


def rollout_spec(strategy: str = "Canary") -> dict[str, Any]:
    return {
        "strategy": strategy,
        "steps": [{"weight": 20}, {"weight": 50}],
        "analysisInterval": f"{INTERVAL}s",
        "failureThreshold": 2,
        "successfulChecksPerStep": 1,
        "progressDeadline": "45s",
        "scaleDownDelay": "15s",
        "traffic": {"router": "Builtin", "mirrorPercent": 100},
        "analysis": {
            "minRequests": 20,
            "metrics": {
                "errorRate": {"max": 0.05},
                "latencyP99": {"maxRatio": 2.0},
                "predictionDrift": {"maxPsi": 0.2},
                "shadowAgreement": {"min": 0.9},
            },
        },
    }


@dataclass
class Snapshot:
    at: float
    status: dict[str, Any]


@dataclass
class StatusWatch:
    """Polls the ModelDeployment's status (every 0.25 s) into a timeline."""

    cluster: Any
    namespace: str
    timeline: list[Snapshot] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> StatusWatch:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            proc = attempt(
                self.cluster, "kubectl", "get", "md", NAME, "-n", self.namespace, "-o", "json"
            )
            if proc.returncode == 0:
                self.timeline.append(
                    Snapshot(time.time(), json.loads(proc.stdout).get("status") or {})
                )
            time.sleep(0.25)

    def since(self, t: float) -> list[Snapshot]:
        return [s for s in list(self.timeline) if s.at >= t]


@dataclass
class Stage:
    started: float
    cluster: Any
    namespace: str
    models: dict[str, Model]
    operator: OperatorProcess
    load: LoadGenerator
    watch: StatusWatch
    tmp: Path

    def apply(
        self, version: str, model: str, *, strategy: str = "Canary", sha: str | None = None
    ) -> float:
        """Ask for ``version`` served from model file ``model``; returns when it was applied."""
        m = self.models[model]
        spec = {
            "model": {"uri": f"file://{m.path}", "version": version, "sha256": sha or m.sha256},
            "serving": {"replicas": 1},
            "rollout": rollout_spec(strategy),
        }
        body = md_manifest(NAME, spec)
        run(
            self.cluster,
            "kubectl",
            "apply",
            "-n",
            self.namespace,
            "-f",
            "-",
            stdin=json.dumps(body),
        )
        return time.time()

    def md(self) -> dict[str, Any]:
        body: dict[str, Any] = kubectl_json(self.cluster, "get", "md", NAME, "-n", self.namespace)
        return body

    def wait(self, what: str, check: Any, timeout: float = 150) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            md = self.md()
            return md if check(md.get("status") or {}) else None

        try:
            return wait_for(what, probe, timeout=timeout)
        except AssertionError:
            print(self.operator.tail(60))
            raise


def operator_process(cluster: Any, namespace: str, log: Path) -> OperatorProcess:
    """The operator on the metrics port the dev cluster's Prometheus scrapes (8000), so the
    dashboard's operator panels have data; fails loudly if the port is taken."""
    op = OperatorProcess(cluster, namespace, log)
    op.metrics_port = OPERATOR_METRICS_PORT
    return op


def _router_url(cluster: Any, namespace: str) -> str | None:
    pods = kubectl_json(
        cluster,
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        f"canaria.dev/model={NAME},app.kubernetes.io/component=router",
    )["items"]
    ready = [p for p in pods if is_ready(p) and not p["metadata"].get("deletionTimestamp")]
    return f"http://{ready[0]['status']['podIP']}:8080" if ready else None


@pytest.fixture(scope="module")
def stage(dev_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    install_crds(dev_cluster)
    ns = new_namespace(dev_cluster, "e2e")
    peering(dev_cluster, ns)
    tmp = tmp_path_factory.mktemp("e2e")
    models = make_models(tmp)
    op = operator_process(dev_cluster, ns, tmp / "operator.log").start()
    watch = StatusWatch(dev_cluster, ns).start()
    load: LoadGenerator | None = None
    idle = LoadGenerator("http://unused", iris_rows())
    st = Stage(time.time(), dev_cluster, ns, models, op, idle, watch, tmp)
    try:
        st.apply("1", "1")
        st.wait("v1 Ready", lambda s: s.get("phase") == "Ready", timeout=120)
        url = wait_for("a Ready router pod", lambda: _router_url(dev_cluster, ns), timeout=60)
        load = LoadGenerator(url, iris_rows(), rate=25.0).start()
        st.load = load
        wait_for("traffic answered by v1", lambda: any(r.version == "1" for r in load.records), 30)
        yield st
    finally:
        if load is not None:
            load.stop()
        watch.stop()
        op.stop()
        st.operator.stop()  # the one a test restarted, if any
        attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")
