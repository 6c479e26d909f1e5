"""Availability on the real node, under steady client traffic through the model's Service:
a serving container killed by the runtime, a router pod deleted, a pod over its memory limit.

The operator is the chart's, in-cluster; pods are containers run by the kubelet; traffic goes
to the model's ClusterIP (kube-proxy) and through the router (2 replicas, a PodDisruptionBudget,
drain on SIGTERM). "Failed" means no HTTP answer or an error of the system's own making."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chart.install import ChartOperator
from tests.cluster.kube import (
    attempt,
    is_ready,
    kill_container,
    kubectl_json,
    new_namespace,
    run,
    wait_for,
)
from tests.e2e.conftest import model_url
from tests.e2e.load import LoadGenerator
from tests.e2e.models import iris_rows, make_models
from tests.operator_cluster.support import condition, install_crds, md_manifest, wait_md

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]
NAME = "iris"


class Site:
    def __init__(self, cluster: Any, namespace: str, load: LoadGenerator, urls: dict[str, Any]):
        self.cluster, self.namespace, self.load, self.urls = cluster, namespace, load, urls

    def pods(self, component: str) -> list[dict[str, Any]]:
        selector = f"canaria.dev/model={NAME},app.kubernetes.io/component={component}"
        items: list[dict[str, Any]] = kubectl_json(
            self.cluster, "get", "pods", "-n", self.namespace, "-l", selector
        )["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def ready(self, component: str) -> list[dict[str, Any]]:
        return [p for p in self.pods(component) if is_ready(p)]

    def failed_since(self, t0: float) -> tuple[int, list[Any]]:
        recs = self.load.since(t0)
        return len(recs), [r for r in recs if r.failed]


def _spec(url: str, sha: str, **serving: Any) -> dict[str, Any]:
    return {
        "model": {"uri": url, "version": "1", "sha256": sha},
        "serving": {"replicas": 2, **serving},
        "rollout": {"strategy": "Canary"},
    }


@pytest.fixture(scope="module")
def site(
    dev_cluster: Any, dev_image: str, model_store: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    install_crds(dev_cluster)
    ns = new_namespace(dev_cluster, "avail")
    tmp = tmp_path_factory.mktemp("avail")
    models = make_models(tmp)
    urls = {
        k: (model_store.publish(m.path, f"{ns}/{m.path.name}"), m.sha256) for k, m in models.items()
    }
    op = ChartOperator(dev_cluster, ns, dev_image, tmp).install()
    body = md_manifest(NAME, _spec(*urls["1"]))
    run(dev_cluster, "kubectl", "apply", "-n", ns, "-f", "-", stdin=json.dumps(body))
    wait_md(
        dev_cluster,
        ns,
        NAME,
        "Ready",
        lambda m: (m.get("status") or {}).get("phase") == "Ready",
        timeout=180,
    )
    load = LoadGenerator(model_url(dev_cluster, ns), iris_rows(), rate=40.0).start()
    site = Site(dev_cluster, ns, load, urls)
    try:
        wait_for("answers", lambda: len(load.records) > 20, timeout=60)
        yield site
    finally:
        load.stop()
        op.uninstall()
        attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


def test_a_serving_container_killed_by_the_runtime_fails_no_request(site: Site) -> None:
    wait_for("2 Ready serving pods", lambda: len(site.ready("serving")) == 2, timeout=60)
    victim = site.ready("serving")[0]
    name = victim["metadata"]["name"]
    before = victim["status"]["containerStatuses"][0]["restartCount"]
    t0 = time.time()
    kill_container(site.cluster, victim, "serve")

    def restarted() -> bool:
        pod = kubectl_json(site.cluster, "get", "pod", name, "-n", site.namespace)
        return is_ready(pod) and pod["status"]["containerStatuses"][0]["restartCount"] > before

    wait_for("the killed container restarted and Ready", restarted, timeout=120)
    time.sleep(3)
    total, failed = site.failed_since(t0)
    print(f"\n[serving container SIGKILL] {total} client requests, {len(failed)} failed")
    assert total > 100
    assert not failed, failed[:3]
    assert {r.status for r in site.load.since(t0)} == {200}  # every answer a model's


def test_deleting_a_router_pod_under_load_fails_no_request(site: Site) -> None:
    pdb = kubectl_json(site.cluster, "get", "pdb", f"{NAME}-router", "-n", site.namespace)
    assert pdb["spec"]["minAvailable"] == 1
    wait_for("2 Ready router pods", lambda: len(site.ready("router")) == 2, timeout=60)
    victim = site.ready("router")[0]["metadata"]["name"]
    t0 = time.time()
    run(site.cluster, "kubectl", "delete", "pod", victim, "-n", site.namespace, "--wait=false")

    def replaced() -> bool:
        names = [p["metadata"]["name"] for p in site.ready("router")]
        gone = attempt(site.cluster, "kubectl", "get", "pod", victim, "-n", site.namespace)
        return len(names) == 2 and victim not in names and gone.returncode != 0

    wait_for("the deleted router pod gone and replaced", replaced, timeout=120)
    time.sleep(3)
    total, failed = site.failed_since(t0)
    print(f"\n[router pod deleted] {total} client requests, {len(failed)} failed")
    assert total > 100
    assert not failed, failed[:3]
    assert {r.status for r in site.load.since(t0)} == {200}


def test_a_pod_over_its_memory_limit_is_oomkilled_and_reported(site: Site) -> None:
    """`canaria serve` needs ~100 MB: under a 48Mi limit the kernel kills it; the operator says
    so in a condition with a reason (the other ModelDeployment keeps serving)."""
    url, sha = site.urls["1"]
    limits = {"resources": {"limits": {"memory": "48Mi"}, "requests": {"memory": "48Mi"}}}
    body = md_manifest(
        "hungry", {**_spec(url, sha, **limits), "serving": {"replicas": 1, **limits}}
    )
    run(site.cluster, "kubectl", "apply", "-n", site.namespace, "-f", "-", stdin=json.dumps(body))

    def oom_reported(md: dict[str, Any]) -> bool:
        cond = condition(md, "Degraded")
        return cond is not None and cond["status"] == "True" and cond["reason"] == "OOMKilled"

    md = wait_md(
        site.cluster, site.namespace, "hungry", "Degraded OOMKilled", oom_reported, timeout=180
    )
    cond = condition(md, "Degraded")
    assert cond is not None
    assert "48Mi" in cond["message"], cond["message"]
    statuses = [
        s
        for p in kubectl_json(
            site.cluster, "get", "pods", "-n", site.namespace, "-l", "canaria.dev/model=hungry"
        )["items"]
        for s in p["status"].get("containerStatuses") or []
    ]
    reasons = {((s.get("lastState") or {}).get("terminated") or {}).get("reason") for s in statuses}
    assert "OOMKilled" in reasons
    assert site.ready("serving"), "the other model kept serving"
