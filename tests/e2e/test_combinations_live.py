"""The combination table (tests/combinations.py), lived on the real node: for a covering set of
configurations, with client traffic through each model's Service, a good version goes out as
the table promises and a bad one is rolled back wherever a check judges it; who answered the
clients is measured, not inferred from status.

The set covers every strategy, both traffic modes that carry client traffic on this cluster
(Builtin, Replicas), fixed and autoscaled replicas, a sticky header, a 50 % mirror, and each
kind of checks (the defaults, none at all, only a custom check, shadow agreement). GatewayAPI
rows are checked at the HTTPRoute level (tests/operator_cluster/test_traffic_modes.py): no
Gateway API data plane runs on the dev cluster. The pure decision is driven through every row
in tests/operator/test_combinations.py; admission of every row in
tests/operator_cluster/test_combinations_admission.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.chart.install import ChartOperator
from tests.cluster.kube import attempt, kubectl_json, new_namespace, run, wait_for
from tests.combinations import Combination, Works, expected, spec
from tests.e2e.load import LoadGenerator, Record
from tests.e2e.models import iris_rows, make_models
from tests.operator_cluster.support import install_crds, md_manifest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

LIVE = (
    Combination("Canary", "Builtin", False, "plain", "default"),
    Combination("Canary", "Builtin", False, "sticky", "custom"),
    Combination("BlueGreen", "Builtin", True, "mirror-50", "shadow"),
    Combination("Shadow", "Builtin", False, "plain", "none"),
    Combination("Canary", "Replicas", True, "plain", "default"),
    Combination("BlueGreen", "Replicas", False, "plain", "default"),
    Combination("Immediate", "Replicas", False, "plain", "none"),
)
INTERVAL = "15s"  # 20 requests/s x a 10 % step = 30 canary requests a round
# A custom check that has data on any cluster: the version's share of 5xx answers.
CUSTOM_QUERY = (
    '(sum(rate(canaria_requests_total{namespace="{{namespace}}",version="{{version}}",'
    'code=~"5.."}[{{interval}}])) or vector(0)) / sum(rate(canaria_requests_total{'
    'namespace="{{namespace}}",version="{{version}}"}[{{interval}}]))'
)


def _live_spec(c: Combination, version: str, url: str, sha: str) -> dict[str, Any]:
    """The table's spec for ``c``, sized for one small node and a quick test."""
    s = spec(c, version)
    # served as "iris" (the load generator's model), whatever the ModelDeployment's name
    s["model"] = {"uri": url, "version": version, "sha256": sha, "name": "iris"}
    serving = s["serving"]
    if "autoscaling" in serving:
        serving["autoscaling"] = {"minReplicas": 2, "maxReplicas": 4}
    else:
        serving["replicas"] = 2
    # seven models at once on one 2-core node: small CPU requests, or pods stay Pending
    serving["resources"] = {"requests": {"cpu": "10m", "memory": "128Mi"}}
    rollout = s["rollout"]
    rollout["analysisInterval"] = INTERVAL
    # one noisy round (a fresh pod's p99 on a busy 2-core machine) is not a verdict
    rollout["failureThreshold"] = 2
    for check in ("latencyP99",):
        if check in rollout["analysis"]["metrics"]:
            rollout["analysis"]["metrics"][check]["maxRatio"] = 3.0
    rollout["progressDeadline"] = "90s"
    rollout["scaleDownDelay"] = "10s"
    for check in rollout["analysis"].get("custom") or []:
        check.update(query=CUSTOM_QUERY, max=0.05)
    return s


@dataclass
class Lane:
    """One combination's ModelDeployment and its client traffic."""

    combo: Combination
    name: str
    load: LoadGenerator | None = None
    statuses: list[tuple[float, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Field:
    cluster: Any
    namespace: str
    urls: dict[str, tuple[str, str]]
    lanes: list[Lane]

    def apply(self, lane: Lane, version: str, model: str) -> None:
        url, sha = self.urls[model]
        body = md_manifest(lane.name, _live_spec(lane.combo, version, url, sha))
        run(self.cluster, "kubectl", "apply", "-n", self.namespace, "-f", "-",
            stdin=json.dumps(body))  # fmt: skip

    def status(self, lane: Lane) -> dict[str, Any]:
        md = kubectl_json(self.cluster, "get", "md", lane.name, "-n", self.namespace)
        status: dict[str, Any] = md.get("status") or {}
        return status


def _watch(fld: Field, stop: threading.Event) -> None:
    while not stop.is_set():
        for lane in fld.lanes:
            proc = attempt(fld.cluster, "kubectl", "get", "md", lane.name, "-n", fld.namespace,
                           "-o", "json")  # fmt: skip
            if proc.returncode == 0:
                lane.statuses.append((time.time(), json.loads(proc.stdout).get("status") or {}))
        time.sleep(0.5)


@pytest.fixture(scope="module")
def live(
    dev_cluster: Any, dev_image: str, model_store: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Field]:
    install_crds(dev_cluster)
    ns = new_namespace(dev_cluster, "combo")
    tmp = tmp_path_factory.mktemp("combo")
    models = make_models(tmp)
    urls = {
        k: (model_store.publish(m.path, f"{ns}/{m.path.name}"), m.sha256) for k, m in models.items()
    }
    # one router replica a model: seven models' pods on one small node
    env = {"CANARIA_OPERATOR_ROUTER_REPLICAS": "1"}
    op = ChartOperator(dev_cluster, ns, dev_image, tmp, env=env).install()
    lanes = [Lane(c, f"c{i}") for i, c in enumerate(LIVE)]
    fld = Field(dev_cluster, ns, urls, lanes)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(fld, stop), daemon=True)
    try:
        for lane in lanes:
            fld.apply(lane, "1", "1")
        for lane in lanes:

            def ready(lane: Lane = lane) -> bool:
                return fld.status(lane).get("phase") == "Ready"

            wait_for(f"{lane.name} Ready", ready, timeout=240)
        for lane in lanes:
            svc = kubectl_json(dev_cluster, "get", "service", lane.name, "-n", ns)
            url = f"http://{svc['spec']['clusterIP']}:8080"
            lane.load = LoadGenerator(url, iris_rows(), rate=20.0, workers=2).start()
        watcher.start()
        yield fld
    finally:
        stop.set()
        for lane in lanes:
            if lane.load is not None:
                lane.load.stop()
        op.uninstall()
        attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


def _ended(version: str, result: str) -> Any:
    def check(status: dict[str, Any]) -> bool:
        history = status.get("history") or []
        last = history[-1] if history else {}
        return last.get("version") == version and last.get("result") == result

    return check


def _answered(records: list[Record], version: str) -> int:
    return sum(1 for r in records if r.status == 200 and r.version == version)


def _result(lane: Lane, good: bool) -> str:
    works = expected(lane.combo)
    assert isinstance(works, Works)
    if not works.stages:
        return "Replaced"  # Immediate
    return "Promoted" if good or not works.judged else "RolledBack"


def _run_rollout(fld: Field, lanes: list[Lane], version: str, model: str, good: bool) -> float:
    """Apply ``version`` on every lane; wait until each history ends as the table says."""
    t0 = time.time()
    for lane in lanes:
        fld.apply(lane, version, model)
    pending = {lane.name: (lane, _result(lane, good)) for lane in lanes}
    deadline = time.monotonic() + 420
    while pending and time.monotonic() < deadline:
        for name, (lane, result) in list(pending.items()):
            if _ended(version, result)(fld.status(lane)):
                del pending[name]
        time.sleep(1)
    assert not pending, "not ended as the table says: " + "; ".join(
        f"{lane.combo.id} wanted {result}, rollout {fld.status(lane).get('rollout')}"
        for lane, result in pending.values()
    )
    return t0


def test_a_good_version_goes_out_as_the_table_promises(live: Field) -> None:
    """v2 (good) on every lane: promoted (judged stages pass; unjudged ones pass on time),
    clients answered throughout; no client answered by a BlueGreen preview or a shadow."""
    t0 = _run_rollout(live, live.lanes, "2", "2", good=True)
    time.sleep(3)
    for lane in live.lanes:
        works = expected(lane.combo)
        assert isinstance(works, Works)
        assert lane.load is not None
        recs = lane.load.since(t0)
        failed = [r for r in recs if r.failed]
        print(f"\n[{lane.combo.id}] {len(recs)} requests, {len(failed)} failed, "
              f"v1 {_answered(recs, '1')}, v2 {_answered(recs, '2')}")  # fmt: skip
        assert not failed, (lane.combo.id, failed[:3])
        assert {r.status for r in recs} == {200}, lane.combo.id  # every answer a model's
        assert _answered(recs, "2") > 0, lane.combo.id
        status = live.status(lane)
        if works.stages and not works.judged:
            # promoted by its steps alone, and status said so on the way
            reasons = {(s.get("rollout") or {}).get("reason") for _, s in lane.statuses}
            assert "NotJudged" in reasons, (lane.combo.id, reasons)
        if works.stages and works.stages[0] in ("Preview", "Shadow"):
            # while previewed or shadowed, the canary answered no client
            first_step = next(
                (
                    t
                    for t, s in lane.statuses
                    if t >= t0 and (s.get("rollout") or {}).get("stage") == "Steps"
                ),
                None,
            )
            promoted = next(t for t, s in lane.statuses if t >= t0 and _ended("2", "Promoted")(s))
            until = first_step or promoted
            early = [r for r in recs if r.at < until - 1 and r.version == "2"]
            assert not early, (lane.combo.id, len(early))
        assert (status.get("stable") or {}).get("version") == "2"


def test_a_bad_version_is_rolled_back_wherever_a_check_judges_it(live: Field) -> None:
    """v3 (fails inside onnxruntime on a third of the rows) on every judged lane: rolled
    back, clients never failed by the system (the 500s are v3's own answers)."""
    judged = [ln for ln in live.lanes if _result(ln, good=False) == "RolledBack"]
    assert len(judged) >= 4
    t0 = _run_rollout(live, judged, "3", "3", good=False)
    for lane in judged:
        assert lane.load is not None
        recs = lane.load.since(t0)
        failed = [r for r in recs if r.failed]
        errors = sum(1 for r in recs if r.status == 500)  # v3's (stable v2 never fails)
        print(f"\n[{lane.combo.id}] bad v3: {len(recs)} requests, {len(failed)} failed, "
              f"{errors} 500s from v3")  # fmt: skip
        assert not failed, (lane.combo.id, failed[:3])
        assert {r.status for r in recs} <= {200, 500}, lane.combo.id
        assert (live.status(lane).get("stable") or {}).get("version") == "2"
