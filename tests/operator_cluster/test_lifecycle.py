"""Create, leave alone (no writes), update Immediate, hand a canary over, delete (GC)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.kube import run, wait_for
from tests.operator_cluster.support import (
    Models,
    OperatorProcess,
    apply_md,
    condition,
    events,
    get,
    owned,
    phase_is,
    settle,
    wait_md,
)

pytestmark = pytest.mark.cluster


def _spec(models: Models, version: str, strategy: str = "Canary") -> dict[str, Any]:
    return {"model": models(version), "rollout": {"strategy": strategy}}


def _versions(objs: list[dict[str, Any]]) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["labels"]["canaria.dev/version"] for o in objs}


def test_create_update_immediate_and_delete(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    apply_md(crds, namespace, "iris", _spec(models, "v1", "Immediate"))
    md = wait_md(crds, namespace, "iris", "Ready", phase_is("Ready"))
    status = md["status"]
    assert status["observedGeneration"] == md["metadata"]["generation"]
    assert status["stable"]["version"] == "v1"
    assert status["stable"]["readyReplicas"] == 1
    ready = condition(md, "Ready")
    assert ready is not None
    assert ready["status"] == "True"
    assert ready["reason"] == "StableReady"
    degraded = condition(md, "Degraded")
    assert degraded is not None
    assert degraded["status"] == "False"

    (dep,) = owned(crds, namespace, "deployment", "iris")
    (svc,) = owned(crds, namespace, "service", "iris")
    for obj in (dep, svc):
        (ref,) = obj["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "ModelDeployment",
            "iris",
            md["metadata"]["uid"],
            True,
        )
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels["canaria.dev/track"] == "stable"
    assert labels["app.kubernetes.io/managed-by"] == "canaria-operator"
    assert {e["reason"] for e in events(crds, namespace, "iris")} >= {"StableReady", "PhaseReady"}

    # Immediate: v2 replaces v1 as soon as its pods are Ready, no steps, no analysis; v1
    # stays warm for scaleDownDelay, then goes.
    spec = _spec(models, "v2", "Immediate")
    spec["rollout"]["scaleDownDelay"] = "5s"
    apply_md(crds, namespace, "iris", spec)
    md = wait_md(
        crds,
        namespace,
        "iris",
        "stable v2 Ready",
        lambda m: (
            (m.get("status") or {}).get("stable", {}).get("version") == "v2"
            and m["status"].get("phase") == "Ready"
            and m["status"]["stable"].get("readyReplicas") == 1
        ),
    )
    wait_for(
        "the v1 Deployment gone after the scale-down delay",
        lambda: _versions(owned(crds, namespace, "deployment", "iris")) == {"iris-v2": "v2"},
        timeout=30,
    )
    assert "canary" not in md["status"]
    assert [(h["version"], h["result"]) for h in md["status"]["history"]] == [("v2", "Replaced")]

    # Delete: the owned objects are garbage-collected by the control plane.
    run(crds, "kubectl", "delete", "md", "iris", "-n", namespace, "--wait=true", timeout=60)
    wait_for(
        "garbage collection of the owned Deployments and Services",
        lambda: (
            not owned(crds, namespace, "deployment", "iris", component=None)
            and not owned(crds, namespace, "service", "iris", component=None)
        ),
        timeout=60,
    )


def test_unchanged_object_is_not_written(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    apply_md(crds, namespace, "quiet", _spec(models, "v1"))
    wait_md(crds, namespace, "quiet", "Ready", phase_is("Ready"))
    settle(3)  # let the last status transition land

    def versions() -> dict[str, str]:
        objs = [get(crds, namespace, "md", "quiet")]
        for kind in ("deployment", "service", "serviceaccount", "role", "rolebinding"):
            objs += owned(crds, namespace, kind, "quiet", component=None)
        return {
            f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for o in objs
            if o
        }

    before = versions()
    writes_before = _writes(operator)
    settle(8)  # four resync periods of 2 s: each one observes, decides, writes nothing
    assert versions() == before
    assert _writes(operator) == writes_before
    assert _reconciles(operator) > 0
    metrics = operator.metrics()
    labels = f'name="quiet",namespace="{namespace}"'
    assert f'canaria_modeldeployment_phase{{{labels},phase="Ready"}} 1.0' in metrics
    assert f'canaria_modeldeployment_phase{{{labels},phase="Pending"}} 0.0' in metrics
    assert f"canaria_modeldeployment_canary_weight{{{labels}}} 0.0" in metrics
    assert 'canaria_operator_reconcile_duration_seconds_count{kind="ModelDeployment"}' in metrics


def _metric_sum(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and not line.startswith("#")
    )


def _writes(op: OperatorProcess) -> float:
    return _metric_sum(op.metrics(), "canaria_operator_writes_total")


def _reconciles(op: OperatorProcess) -> float:
    return _metric_sum(
        op.metrics(), 'canaria_operator_reconciles_total{kind="ModelDeployment",result="ok"}'
    )


def test_new_version_with_canary_strategy_creates_canary_track(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    apply_md(crds, namespace, "flowers", _spec(models, "v1"))
    wait_md(crds, namespace, "flowers", "Ready", phase_is("Ready"))
    apply_md(crds, namespace, "flowers", _spec(models, "v2"))
    md = wait_md(
        crds,
        namespace,
        "flowers",
        "canary track Ready",
        lambda m: (m.get("status") or {}).get("canary", {}).get("readyReplicas") == 1,
    )
    status = md["status"]
    assert status["phase"] == "Progressing"
    assert (status["stable"]["version"], status["canary"]["version"]) == ("v1", "v2")
    assert _versions(owned(crds, namespace, "deployment", "flowers")) == {
        "flowers-v1": "v1",
        "flowers-v2": "v2",
    }
    # a Ready canary enters the first step; the analysis has no data (no client traffic),
    # so the rollout holds there (Inconclusive never promotes)
    md = wait_md(
        crds,
        namespace,
        "flowers",
        "first step",
        lambda m: (m.get("status") or {}).get("currentStep") == 0,
    )
    status = md["status"]
    assert status["rollout"]["phase"] == "Progressing"
    assert status["rollout"]["stage"] == "Steps"
    assert (status["stable"]["weight"], status["canary"]["weight"]) == (90, 10)
    progressing = condition(md, "Progressing")
    assert progressing is not None
    assert progressing["reason"] == "RolloutInProgress"
    assert "RolloutStarted" in {e["reason"] for e in events(crds, namespace, "flowers")}


def test_printer_columns_and_explain(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    apply_md(
        crds,
        namespace,
        "cols",
        {**_spec(models, "v1"), "model": {**_spec(models, "v1")["model"], "name": "served-name"}},
    )
    wait_md(crds, namespace, "cols", "Ready", phase_is("Ready"))
    apply_md(
        crds,
        namespace,
        "cols",
        {**_spec(models, "v2"), "model": {**_spec(models, "v2")["model"], "name": "served-name"}},
    )
    wait_md(
        crds,
        namespace,
        "cols",
        "first step",
        lambda m: (m.get("status") or {}).get("currentStep") == 0,
    )
    out = run(crds, "kubectl", "get", "md", "cols", "-n", namespace).splitlines()
    assert out[0].split() == ["NAME", "MODEL", "STABLE", "CANARY", "WEIGHT", "PHASE", "AGE"]
    assert out[1].split()[:6] == ["cols", "served-name", "v1", "v2", "10", "Progressing"]
    explained = run(crds, "kubectl", "explain", "modeldeployment.spec.rollout")
    for field in (
        "strategy",
        "steps",
        "analysisInterval",
        "failureThreshold",
        "progressDeadline",
        "scaleDownDelay",
        "traffic",
        "analysis",
    ):
        assert f"  {field}\t" in explained
    assert "Canary: move traffic to the new version step by step" in run(
        crds, "kubectl", "explain", "modeldeployment.spec.rollout.strategy"
    )
