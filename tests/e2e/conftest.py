"""The end-to-end stage, as a user's cluster runs it: the operator installed by the Helm chart
from the image built here (a pod, in-cluster config, the chart's ServiceAccount), serving pods
and the router in containers on the dev cluster's real node, real Prometheus scraping pod
IPs, models made by `canaria package` fetched over HTTP, and steady client traffic through
the model's Service (ClusterIP via kube-proxy) and the router."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from canaria_serving import contract
from tests.chart.install import ChartOperator
from tests.cluster.kube import attempt, kubectl_json, new_namespace, run, wait_for
from tests.e2e.load import LoadGenerator
from tests.e2e.models import Model, iris_rows, make_models
from tests.operator_cluster.support import install_crds, md_manifest

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


class MdClient:
    """The stage's ModelDeployment through kubectl (mixed into the e2e stages)."""

    cluster: Any
    namespace: str
    operator: ChartOperator
    md_name: ClassVar[str] = NAME

    def apply_spec(self, spec: dict[str, Any]) -> float:
        """``kubectl apply`` the ModelDeployment with ``spec``; returns when it was applied."""
        body = json.dumps(md_manifest(self.md_name, spec))
        run(self.cluster, "kubectl", "apply", "-n", self.namespace, "-f", "-", stdin=body)
        return time.time()

    def md(self) -> dict[str, Any]:
        body: dict[str, Any] = kubectl_json(
            self.cluster, "get", "md", self.md_name, "-n", self.namespace
        )
        return body

    def wait(self, what: str, check: Any, timeout: float = 150) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            md = self.md()
            return md if check(md.get("status") or {}) else None

        try:
            return wait_for(what, probe, timeout=timeout)
        except AssertionError:
            print(json.dumps(self.md().get("status"), indent=1)[-3000:])
            print(self.operator.tail(60))
            raise


@dataclass
class Stage(MdClient):
    started: float
    cluster: Any
    namespace: str
    models: dict[str, Model]
    urls: dict[str, str]  # model -> where pods fetch it
    operator: ChartOperator
    load: LoadGenerator
    watch: StatusWatch
    tmp: Path

    def apply(
        self, version: str, model: str, *, strategy: str = "Canary", sha: str | None = None
    ) -> float:
        """Ask for ``version`` served from model file ``model``; returns when it was applied."""
        m = self.models[model]
        spec = {
            "model": {"uri": self.urls[model], "version": version, "sha256": sha or m.sha256},
            "serving": {"replicas": 1},
            "rollout": rollout_spec(strategy),
        }
        return self.apply_spec(spec)


def model_url(cluster: Any, namespace: str, name: str = NAME) -> str:
    """The model's address for clients: its Service (ClusterIP, through kube-proxy), which
    sends to the router."""
    svc = kubectl_json(cluster, "get", "service", name, "-n", namespace)
    return f"http://{svc['spec']['clusterIP']}:{contract.SERVING_PORT}"


@pytest.fixture(scope="module")
def stage(
    dev_cluster: Any, dev_image: str, model_store: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    install_crds(dev_cluster)
    ns = new_namespace(dev_cluster, "e2e")
    tmp = tmp_path_factory.mktemp("e2e")
    models = make_models(tmp)
    urls = {k: model_store.publish(m.path, f"{ns}/{m.path.name}") for k, m in models.items()}
    op = ChartOperator(dev_cluster, ns, dev_image, tmp).install()
    watch = StatusWatch(dev_cluster, ns).start()
    load: LoadGenerator | None = None
    idle = LoadGenerator("http://unused", iris_rows())
    st = Stage(time.time(), dev_cluster, ns, models, urls, op, idle, watch, tmp)
    try:
        st.apply("1", "1")
        st.wait("v1 Ready", lambda s: s.get("phase") == "Ready", timeout=180)
        load = LoadGenerator(model_url(dev_cluster, ns), iris_rows(), rate=25.0).start()
        st.load = load
        wait_for("traffic answered by v1", lambda: any(r.version == "1" for r in load.records), 60)
        yield st
    finally:
        if load is not None:
            load.stop()
        watch.stop()
        op.uninstall()
        attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")
