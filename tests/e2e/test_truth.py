"""Issue #14's end-to-end proof: models judged on the truth, on the dev cluster (chart-installed
operator, real serving pods and router, real Prometheus), with client traffic whose truths
the client sends back a few seconds later through the model's Service.

1. a good version passes its acceptance test and is promoted on the truth (the post-rollout
   hook hears of it);
2. a version that is healthy and agrees with the stable on ~90 % of requests but is ~10
   points less accurate is rolled back on the accuracy gate once its labels arrive;
3. the same version with an acceptance test never gets a client request;
4. a confirm-promotion hook answering 503 holds the promotion until it answers 200;
5. a truth for an expired id is answered 404 and counted as unmatched;
6. the ground-truth dashboard panels have data.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from canaria_devtools.devcluster.inside import popen_inside
from canaria_serving import contract
from tests.chart.install import ChartOperator
from tests.chart.support import dashboard_targets, fill
from tests.cluster.kube import attempt, kubectl_json, new_namespace, wait_for
from tests.e2e.conftest import MdClient, model_url
from tests.e2e.truth_load import Sent, TruthLoad
from tests.e2e.truth_models import TruthData, make_truth
from tests.operator_cluster.support import events, install_crds

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]

NAME = "truth"
INTERVAL = 10
LABEL_DELAY = 5
RETENTION = 20


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class Receiver:
    folder: Path
    url: str
    proc: subprocess.Popen[str]

    def answer(self, hook: str, code: int) -> None:
        (self.folder / f"{hook}.code").write_text(str(code))

    def calls(self, hook: str) -> list[dict[str, Any]]:
        path = self.folder / f"{hook}.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]


@dataclass
class Stage(MdClient):
    md_name: ClassVar[str] = NAME
    cluster: Any
    namespace: str
    data: TruthData
    urls: dict[str, str]
    dataset_url: str
    hooks: Receiver
    operator: ChartOperator
    load: TruthLoad
    started: float

    def spec(
        self, version: str, model: str, *, acceptance: bool = False, confirm: bool = False
    ) -> dict[str, Any]:
        webhooks = [{"name": "notify", "type": "post-rollout", "url": f"{self.hooks.url}/notify"}]
        if confirm:
            webhooks.append(
                {"name": "confirm", "type": "confirm-promotion", "url": f"{self.hooks.url}/confirm"}
            )
        rollout: dict[str, Any] = {
            "strategy": "Canary",
            "steps": [{"weight": 50}],
            "analysisInterval": f"{INTERVAL}s",
            "failureThreshold": 2,
            "progressDeadline": "90s",
            "scaleDownDelay": "10s",
            "traffic": {"router": "Builtin"},
            "analysis": {
                "minRequests": 20,
                "labelDelay": f"{LABEL_DELAY}s",
                "metrics": {
                    "errorRate": {"max": 0.05},
                    "predictionDrift": {"maxPsi": 0.2},
                    "accuracy": {"maxDrop": 0.02, "confidence": 0.95, "minLabels": 100},
                },
            },
            "webhooks": webhooks,
        }
        if acceptance:
            rollout["acceptance"] = {
                "dataset": {"uri": self.dataset_url, "labelColumn": "label"},
                "minAccuracy": 0.9,
                "maxDropVsStable": 0.05,
                "timeout": "2m",
            }
        return {
            "model": {
                "uri": self.urls[model],
                "version": version,
                "sha256": self.data.sha256[model],
            },
            "serving": {
                "replicas": 1,
                "feedback": {"retention": f"{RETENTION}s", "maxPredictions": 20000},
            },
            "rollout": rollout,
        }

    def apply(self, version: str, model: str, **kw: bool) -> float:
        return self.apply_spec(self.spec(version, model, **kw))


@pytest.fixture(scope="module")
def stage(
    dev_cluster: Any, dev_image: str, model_store: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stage]:
    install_crds(dev_cluster)
    ns = new_namespace(dev_cluster, "truth")
    tmp = tmp_path_factory.mktemp("truth")
    data = make_truth(tmp)
    urls = {k: model_store.publish(p, f"{ns}/{p.name}") for k, p in data.files.items()}
    dataset_url = model_store.publish(data.dataset, f"{ns}/acceptance.csv")
    hooks_dir = tmp / "hooks"
    hooks_dir.mkdir()
    argv = [sys.executable, str(Path(__file__).with_name("hook_receiver.py")), str(hooks_dir)]
    proc = popen_inside(
        dev_cluster.net.name,
        [*argv, "--bind", dev_cluster.net.node_ip],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline().strip())
    hooks = Receiver(hooks_dir, f"http://{dev_cluster.net.node_ip}:{port}", proc)
    op = ChartOperator(dev_cluster, ns, dev_image, tmp).install()
    load: TruthLoad | None = None
    st = Stage(dev_cluster, ns, data, urls, dataset_url, hooks, op, None, time.time())  # type: ignore[arg-type]
    try:
        st.apply("1", "v1")
        st.wait("v1 Ready", lambda s: s.get("phase") == "Ready")
        load = TruthLoad(
            model_url(dev_cluster, ns, NAME), NAME, data.x_test, data.y_test, delay=LABEL_DELAY
        )
        st.load = load.start()
        wait_for("traffic answered by v1", lambda: any(s.version == "1" for s in load.sent), 60)
        print(f"\n[truth] accuracy on the held-out rows: {data.accuracy}")
        yield st
    finally:
        if load is not None:
            load.stop()
        op.uninstall()
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        attempt(dev_cluster, "kubectl", "delete", "namespace", ns, "--wait=false")


def _promoted(version: str) -> Any:
    return lambda s: (s.get("stable") or {}).get("version") == version and s.get("phase") == "Ready"


def _rolled_back(version: str) -> Any:
    def check(s: dict[str, Any]) -> bool:
        hist = s.get("history") or []
        return bool(s.get("phase") == "RolledBack" and hist and hist[-1]["version"] == version)

    return check


def _accuracy_rounds(md: dict[str, Any]) -> dict[str, Any] | None:
    return next((a for a in md["status"].get("analysis") or [] if a["metric"] == "accuracy"), None)


def _summary(stage: Stage, scenario: str, since: float) -> list[Sent]:
    sent = stage.load.since(since)
    by: dict[tuple[str | None, int | None], int] = {}
    for s in sent:
        by[(s.version, s.status)] = by.get((s.version, s.status), 0) + 1
    failed = [s for s in sent if s.failed]
    labelled = [s for s in sent if s.labelled]
    print(
        f"[{scenario}] {len(sent)} client requests, {len(labelled)} labelled, failed by the "
        f"system: {len(failed)}; by (version, status): {dict(sorted(by.items(), key=str))}"
    )
    assert len(sent) > 50, "too little traffic to say anything"
    assert not failed, f"{len(failed)} client requests failed: {failed[:3]}"
    return sent


def test_1_a_good_version_passes_acceptance_and_is_promoted_on_the_truth(stage: Stage) -> None:
    t0 = stage.apply("2", "good", acceptance=True)
    md = stage.wait("v2 promoted", _promoted("2"))
    status = md["status"]
    acc = status["acceptance"]
    assert (acc["version"], acc["verdict"]) == ("2", "Passed")
    assert acc["rows"] == 300
    assert acc["accuracy"] > 0.9
    assert {c["label"] for c in acc["classes"]} == {"0", "1", "2"}
    accuracy = _accuracy_rounds(md)
    assert accuracy is not None
    assert accuracy["verdict"] == "Successful"
    assert accuracy["samples"] >= 100

    def notified() -> list[dict[str, Any]]:
        calls = stage.hooks.calls("notify")
        return [c for c in calls if (c.get("lastRollout") or {}).get("version") == "2"]

    notes = wait_for("the post-rollout hook called", notified, 30)
    assert notes[-1]["lastRollout"]["result"] == "Promoted"
    assert notes[-1]["type"] == "post-rollout"
    sent = _summary(stage, "1 good v2", t0)
    assert any(s.version == "2" for s in sent)
    print(
        f"[1 good v2] acceptance {acc['accuracy']:.3f} vs stable {acc['stableAccuracy']:.3f}; "
        f"accuracy check: {accuracy['message']}; post-rollout notified: {len(notes)}"
    )


def test_2_a_less_accurate_version_is_rolled_back_once_its_labels_arrive(stage: Stage) -> None:
    t0 = stage.apply("3", "bad")
    md = stage.wait("v3 rolled back", _rolled_back("3"))
    rollout = md["status"]["rollout"]
    assert rollout["reason"] == "AnalysisFailed"
    assert "accuracy Failed" in rollout["message"]
    assert "error-rate Failed" not in rollout["message"]
    assert "prediction-drift Failed" not in rollout["message"]
    # the next rollout deletes this rolled-back canary at once (and the predictions it
    # keeps): let the truths of its last answers arrive first
    time.sleep(LABEL_DELAY + 3)
    sent = _summary(stage, "2 less accurate v3", t0)
    mine = [s for s in sent if s.version == "3"]
    assert mine, "v3 answered no client: nothing was judged"
    warnings = [
        e for e in events(stage.cluster, stage.namespace, NAME)
        if e.get("reason") == "AnalysisFailed" and e.get("eventTime") and _ts(e["eventTime"]) >= t0
    ]  # fmt: skip
    first = min(_ts(e["eventTime"]) for e in warnings)
    print(
        f"[2 less accurate v3] first failed accuracy round {first - t0:.0f} s after the apply, "
        f"rolled back at {_ts(md['status']['history'][-1]['finishedAt']) - t0:.0f} s: "
        f"{rollout['message'][:300]}"
    )


def test_3_a_canary_that_fails_acceptance_never_gets_a_client_request(stage: Stage) -> None:
    t0 = stage.apply("5", "bad", acceptance=True)
    md = stage.wait("v5 rolled back", _rolled_back("5"))
    status = md["status"]
    assert status["rollout"]["reason"] == "AcceptanceFailed"
    acc = status["acceptance"]
    assert (acc["version"], acc["verdict"]) == ("5", "Failed")
    assert acc["accuracy"] < 0.9
    assert any(
        e.get("reason") == "AcceptanceFailed" and "per class" in (e.get("note") or "")
        for e in events(stage.cluster, stage.namespace, NAME)
    )
    sent = _summary(stage, "3 v5 fails acceptance", t0)
    assert not [s for s in sent if s.version == "5" or s.track == "canary"]
    job = kubectl_json(
        stage.cluster,
        "get",
        "jobs",
        "-n",
        stage.namespace,
        "-l",
        "app.kubernetes.io/component=acceptance",
    )
    names = [j["metadata"]["name"] for j in job["items"]]
    print(f"[3 v5 fails acceptance] {acc['message'][:200]}; jobs: {names}")


def test_4_confirm_promotion_holds_until_the_hook_answers_200(stage: Stage) -> None:
    stage.hooks.answer("confirm", 503)
    t0 = stage.apply("4", "good", confirm=True)
    stage.wait(
        "v4 held for confirmation",
        lambda s: (s.get("rollout") or {}).get("reason") == "PromotionNotConfirmed",
    )
    wait_for("two confirm calls answered 503", lambda: len(stage.hooks.calls("confirm")) >= 2, 60)
    md = stage.md()
    assert md["status"]["phase"] == "Progressing"
    assert md["status"]["stable"]["version"] == "2"
    (hook,) = [w for w in md["status"]["webhooks"] if w["name"] == "confirm"]
    assert (hook["passed"], hook["code"]) == (False, 503)
    held = time.time()
    stage.hooks.answer("confirm", 200)
    stage.wait("v4 promoted once confirmed", _promoted("4"), timeout=60)
    took = time.time() - held
    _summary(stage, "4 confirm-promotion", t0)
    calls = stage.hooks.calls("confirm")
    assert calls[-1]["canaryVersion"] == "4"
    print(f"[4 confirm-promotion] held through {len(calls)} calls, promoted {took:.0f} s after 200")


def test_5_a_truth_for_an_expired_id_is_counted_as_unmatched(stage: Stage) -> None:
    stable = stage.md()["status"]["stable"]["version"]

    def expired() -> Sent | None:
        old = [s for s in stage.load.sent if s.version == stable and s.status == 200]
        return next((s for s in old if s.at < time.time() - RETENTION - 3), None)

    old = wait_for("a request the stable answered longer ago than the retention", expired, 60)
    url = stage.load.url + contract.v2_feedback_path(NAME)
    resp = httpx.post(url, json={"feedback": [{"id": old.id, "truth": old.truth}]}, timeout=10)
    assert resp.status_code == 404
    assert resp.json()["unmatched"] == [{"id": old.id, "reason": "expired"}]
    # a request answered by v1, whose pods went after the first promotion: lost with them
    gone = next(s for s in stage.load.sent if s.version == "1")
    lost = httpx.post(url, json={"feedback": [{"id": gone.id, "truth": gone.truth}]}, timeout=10)
    assert lost.json()["unmatched"] == [{"id": gone.id, "reason": "unknown"}]
    bad = httpx.post(url, json={"feedback": [{"id": old.id, "truth": 0.5}]}, timeout=10)
    assert bad.status_code == 400
    prom = stage.cluster.prometheus_url
    expr = (
        f'sum(canaria_feedback_unmatched_total{{namespace="{stage.namespace}", '
        f'model="{NAME}", reason="expired"}})'
    )

    def counted() -> float | None:
        body = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
        result = body["data"]["result"]
        return (
            float(result[0]["value"][1]) if result and float(result[0]["value"][1]) >= 1 else None
        )

    n = wait_for("the expired truth in Prometheus", counted, timeout=30)
    fb = stage.load.feedback
    reasons: dict[str, int] = {}
    for _, body in fb:
        for item in (body.get("unmatched") or []) if isinstance(body, dict) else []:
            reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
    print(f"[5 expired id] truths the client sent that no pod matched, by reason: {reasons}")
    slow = [(round(at - stage.started), round(took, 2)) for at, took, _ in stage.load.calls]
    slow = sorted(slow, key=lambda c: -c[1])[:5]
    print(f"[5 expired id] slowest feedback calls (s into the run, s taken): {slow}")
    late = [
        (
            round(s.at - stage.started),
            s.version,
            body["unmatched"][0]["reason"],
            len(body["unmatched"]),
        )
        for code, body in fb
        if code != 200 and isinstance(body, dict) and body.get("unmatched")
        for s in stage.load.sent
        if s.id == body["unmatched"][0]["id"]
    ]
    print(
        f"[5 expired id] calls with unmatched truths (first sent at s, by, why, how many): {late}"
    )
    ends = [
        (h["version"], h["result"], round(_ts(h["finishedAt"]) - stage.started))
        for h in stage.md()["status"].get("history") or []
    ]
    print(f"[5 expired id] rollouts ended (version, result, s into the run): {ends}")
    print(
        f"[5 expired id] {old.id} ({time.time() - old.at:.0f} s old) -> 404 expired; "
        f"unmatched(expired) = {n:.0f}; client feedback calls: {len(fb)}, "
        f"all accepted: {sum(1 for code, _ in fb if code == 200)}"
    )


def test_6_the_ground_truth_panels_have_data(stage: Stage) -> None:
    url, end = stage.cluster.prometheus_url, time.time()
    variables = {"namespace": stage.namespace, "name": NAME, "model": NAME}
    panels: dict[str, int] = {}
    for title, expr in dashboard_targets():
        if not title.startswith("Ground truth"):
            continue
        resp = httpx.get(
            f"{url}/api/v1/query_range",
            params={"query": fill(expr, variables), "start": stage.started, "end": end, "step": 5},
            timeout=30,
        ).json()
        assert resp["status"] == "success", resp
        panels[title] = panels.get(title, 0) + bool(resp["data"]["result"])
    assert panels["Ground truth: accuracy per version"]
    assert panels["Ground truth: unmatched feedback and lost predictions"]
    print(f"[6 dashboard] ground-truth panels with data: {panels}")
