"""Issue #5's end-to-end proof, in order on one ModelDeployment with steady client traffic
through the router: promote a good version, roll back errors, slowness and wrong predictions
on their own, survive an operator SIGKILL and a Prometheus outage, roll back a canary that
never gets Ready. In every scenario no client request fails for the system's sake, and the
time from the first failing analysis round to canary weight 0 is printed and bounded."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.chart.support import dashboard_targets, documents, fill, rule_exprs, template
from tests.cluster.kube import kubectl_json, wait_for
from tests.e2e.conftest import INTERVAL, NAME, Stage
from tests.e2e.load import Record
from tests.operator_cluster.support import events

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _summary(stage: Stage, scenario: str, since: float) -> list[Record]:
    recs = stage.load.since(since)
    by: dict[tuple[str | None, int | None], int] = {}
    for r in recs:
        key = (r.version if r.status == 200 else r.track, r.status)
        by[key] = by.get(key, 0) + 1
    failed = [r for r in recs if r.failed]
    print(
        f"\n[{scenario}] {len(recs)} client requests; failed by the system: {len(failed)}; "
        f"by (version|track, status): {dict(sorted(by.items(), key=str))}"
    )
    rounds: dict[str, str] = {}
    for snap in stage.watch.since(since):
        for a in snap.status.get("analysis") or []:
            if _ts(a["at"]) >= since - 1:
                values = f"{a.get('value')}/{a.get('stableValue')},n={a.get('samples')}"
                entry = f"{a['metric']}={a['verdict']}({values})"
                rounds.setdefault(a["at"], "")
                if entry.split("=", maxsplit=1)[0] + "=" not in rounds[a["at"]]:
                    rounds[a["at"]] += " " + entry
    for at, text in sorted(rounds.items()):
        print(f"[{scenario}] round {at}:{text}")
    assert len(recs) > 50, "too little traffic to say anything"
    assert not failed, f"{len(failed)} client requests failed: {failed[:3]}"
    return recs


def _weights_seen(stage: Stage, since: float) -> list[int]:
    seen: list[int] = []
    for snap in stage.watch.since(since):
        w = (snap.status.get("rollout") or {}).get("canaryWeight")
        if w is not None and (not seen or seen[-1] != w):
            seen.append(int(w))
    return seen


def _rollback_seconds(stage: Stage, since: float, scenario: str) -> float:
    """From the first Failed analysis round (its Warning Event) to canary weight 0 (the
    rollback's history entry: the status write that set the weight to 0)."""
    warnings = [
        e
        for e in events(stage.cluster, stage.namespace, NAME)
        if e.get("reason") == "AnalysisFailed" and e.get("eventTime")
    ]
    failed_at = min(_ts(e["eventTime"]) for e in warnings if _ts(e["eventTime"]) >= since)
    history = stage.md()["status"]["history"][-1]
    assert history["result"] == "RolledBack"
    zero_at = _ts(history["finishedAt"])
    took = zero_at - failed_at
    print(
        f"[{scenario}] first failed round -> canary weight 0: {took:.1f} s "
        f"(interval {INTERVAL} s, limit {2 * INTERVAL} s)"
    )
    return took


def _promoted(version: str) -> Any:
    return lambda s: (s.get("stable") or {}).get("version") == version and s.get("phase") == "Ready"


def _rolled_back(version: str) -> Any:
    def check(s: dict[str, Any]) -> bool:
        hist = s.get("history") or []
        return bool(
            s.get("phase") == "RolledBack"
            and hist
            and hist[-1]["version"] == version
            and hist[-1]["result"] == "RolledBack"
        )

    return check


def _no_canary_traffic_after(stage: Stage, t: float, version: str) -> None:
    """Once the router has seen weight 0 (within a second), no request reaches the canary."""
    wait_for("traffic after the rollback", lambda: stage.load.since(t + 5), timeout=30)
    late = [r for r in stage.load.since(t + 1.5) if r.version == version or r.track == "canary"]
    assert not late, f"{len(late)} requests reached canary {version} after its rollback: {late[:2]}"


def test_1_good_version_is_promoted_through_every_step(stage: Stage) -> None:
    t0 = stage.apply("2", "2")
    md = stage.wait("v2 promoted", _promoted("2"))
    status = md["status"]
    assert status["history"][-1]["result"] == "Promoted"
    assert status["previous"]["version"] == "1"  # warm for the scale-down delay
    assert [w for w in _weights_seen(stage, t0) if w] == [20, 50]
    recs = _summary(stage, "1 good v2", t0)
    assert any(r.version == "2" and r.track == "canary" for r in recs)
    time.sleep(2)
    assert all(r.version == "2" for r in stage.load.since(time.time() - 1.5))


def test_2_erroring_version_is_rolled_back(stage: Stage) -> None:
    t0 = stage.apply("3", "3")
    md = stage.wait("v3 rolled back", _rolled_back("3"))
    rollout = md["status"]["rollout"]
    assert rollout["reason"] == "AnalysisFailed"
    assert "error-rate Failed" in rollout["message"]
    assert md["status"]["stable"]["version"] == "2"
    recs = _summary(stage, "2 erroring v3", t0)
    model_errors = [r for r in recs if r.status == 500]
    assert model_errors, "v3 never answered with an error: nothing was tested"
    assert {r.track for r in model_errors} == {"canary"}
    assert _rollback_seconds(stage, t0, "2 erroring v3") <= 2 * INTERVAL
    _no_canary_traffic_after(stage, _rolled_back_at(stage, t0), "3")


def _rolled_back_at(stage: Stage, since: float) -> float:
    history = stage.md()["status"]["history"][-1]
    return _ts(history["finishedAt"])


def test_3_slow_version_is_rolled_back_on_latency(stage: Stage) -> None:
    t0 = stage.apply("4", "4")
    md = stage.wait("v4 rolled back", _rolled_back("4"))
    rollout = md["status"]["rollout"]
    assert rollout["reason"] == "AnalysisFailed"
    assert "latency-p99 Failed" in rollout["message"]
    _summary(stage, "3 slow v4", t0)
    assert _rollback_seconds(stage, t0, "3 slow v4") <= 2 * INTERVAL
    _no_canary_traffic_after(stage, _rolled_back_at(stage, t0), "4")


def test_4_wrong_predictions_are_caught_in_shadow(stage: Stage) -> None:
    t0 = stage.apply("5", "5", strategy="Shadow")
    md = stage.wait("v5 rolled back", _rolled_back("5"))
    rollout = md["status"]["rollout"]
    assert rollout["reason"] == "AnalysisFailed"
    assert "shadow-agreement Failed" in rollout["message"]
    recs = _summary(stage, "4 mispredicting v5 (shadow)", t0)
    # the canary only ever saw mirrored traffic: no client got a v5 answer
    assert not [r for r in recs if r.version == "5"]
    assert _weights_seen(stage, t0) == [0]
    assert _rollback_seconds(stage, t0, "4 mispredicting v5") <= 2 * INTERVAL


def test_5_operator_killed_mid_rollout_finishes_once(stage: Stage) -> None:
    t0 = stage.apply("7", "2")
    stage.wait(
        "v7 at step 1",
        lambda s: s.get("currentStep") == 0 and (s.get("canary") or {}).get("version") == "7",
    )
    before = stage.operator.kill()  # SIGKILL through the container runtime
    stage.operator.wait_restarted(before)
    md = stage.wait("v7 promoted by the restarted operator", _promoted("7"))
    history = [h for h in md["status"]["history"] if h["version"] == "7"]
    assert [h["result"] for h in history] == ["Promoted"]
    deployments = kubectl_json(
        stage.cluster,
        "get",
        "deployments",
        "-n",
        stage.namespace,
        "-l",
        f"canaria.dev/model={NAME},canaria.dev/version=7",
    )["items"]
    assert [d["metadata"]["name"] for d in deployments] == [f"{NAME}-7"]
    rs = kubectl_json(
        stage.cluster,
        "get",
        "replicasets",
        "-n",
        stage.namespace,
        "-l",
        f"canaria.dev/model={NAME},canaria.dev/version=7",
    )["items"]
    assert len(rs) == 1, "the promotion rolled the pods (a second ReplicaSet)"
    _summary(stage, "5 operator SIGKILL", t0)


def _prometheus_pid(stage: Stage) -> int:
    (proc,) = [s for s in stage.cluster.status() if s.name == "prometheus"]
    assert proc.pid is not None
    return int(proc.pid)


def test_6_no_promotion_while_prometheus_is_down(stage: Stage) -> None:
    t0 = stage.apply("8", "2")
    stage.wait(
        "v8 at step 1",
        lambda s: s.get("currentStep") == 0 and (s.get("canary") or {}).get("version") == "8",
    )
    pid = _prometheus_pid(stage)
    os.kill(pid, signal.SIGSTOP)  # hangs: every query times out, as a dead or partitioned server
    try:
        stopped = time.time()
        stage.wait(
            "an Inconclusive round while Prometheus is down",
            lambda s: any(
                a["verdict"] == "Inconclusive" and _ts(a["at"]) > stopped
                for a in s.get("analysis") or []
            ),
            timeout=4 * INTERVAL,
        )
        time.sleep(3 * INTERVAL)
        during = stage.watch.since(stopped)
        assert all((s.status.get("stable") or {}).get("version") == "7" for s in during)
        assert all(s.status.get("currentStep") == 0 for s in during), "advanced without data"
    finally:
        os.kill(pid, signal.SIGCONT)
    stage.wait("v8 promoted once Prometheus is back", _promoted("8"), timeout=180)
    print(f"[6 prometheus down] held at step 1 for {3 * INTERVAL} s of outage, promoted after")
    _summary(stage, "6 prometheus down", t0)


def test_7_canary_with_wrong_sha256_never_serves_and_is_rolled_back(stage: Stage) -> None:
    t0 = stage.apply("6", "2", sha="0" * 64)
    md = stage.wait("v6 rolled back at the progress deadline", _rolled_back("6"), timeout=120)
    rollout = md["status"]["rollout"]
    assert rollout["reason"] == "ProgressDeadlineExceeded"
    assert "sha256" in rollout["message"]
    recs = _summary(stage, "7 wrong sha256 v6", t0)
    assert not [r for r in recs if r.version == "6" or r.track == "canary"]
    assert _weights_seen(stage, t0) == [0]
    took = _rolled_back_at(stage, t0) - t0
    print(
        f"[7 wrong sha256] rolled back {took:.0f} s after the apply (progressDeadline 45 s): "
        f"{rollout['message'][:160]}"
    )


def _query_range(url: str, expr: str, start: float, end: float) -> list[Any]:
    resp = httpx.get(
        f"{url}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": 5},
        timeout=30,
    )
    body = resp.json()
    assert resp.status_code == 200, f"{expr}: {body}"
    assert body["status"] == "success", f"{expr}: {body}"
    result: list[Any] = body["data"]["result"]
    return result


def test_8_every_dashboard_panel_has_data_and_every_alert_evaluates(stage: Stage) -> None:
    """Issue #6: every panel's queries, over the rollouts above, return data (at least one
    target per panel: the classifier has no regressor histogram); every alert evaluates."""
    url, end = stage.cluster.prometheus_url, time.time()
    variables = {"namespace": stage.namespace, "name": NAME, "model": NAME}
    panels: dict[str, int] = {}
    for title, expr in dashboard_targets():
        series = _query_range(url, fill(expr, variables), stage.started, end)
        panels[title] = panels.get(title, 0) + bool(series)
    # the ground-truth panels need spec.serving.feedback: tests/e2e/test_truth.py checks them
    empty = [title for title, n in panels.items() if not n and not title.startswith("Ground")]
    assert not empty, f"panels without data over the rollouts: {empty}"
    rules = rule_exprs(documents(template(stage.cluster, "prometheusRule.enabled=true")))
    for expr in rules.values():
        _query_range(url, expr, stage.started, end)  # evaluates, firing or not
    print(f"[8 dashboard] {len(panels)} panels with data, {len(rules)} alert rules evaluated")
