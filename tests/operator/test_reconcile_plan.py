"""The pure decide step: rollout hand-over, writes from desired vs observed, status, Events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canaria_operator import conditions as C
from canaria_operator.api import ModelDeployment
from canaria_operator.events import transition_events
from canaria_operator.reconcile import (
    Observed,
    Problem,
    TrackHealth,
    desired_objects,
    engine_plan,
    new_status,
    plan_writes,
)
from canaria_operator.reconcile.health import track_health
from canaria_operator.reconcile.patch import merge_patch
from canaria_operator.rollout.model import Phase, Stage
from canaria_operator.settings import OperatorSettings
from tests.operator.helpers import SHA, make_md

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()


def _model(version: str, strategy: str = "Canary") -> dict[str, Any]:
    return {
        "model": {"uri": f"https://m.local/{version}.onnx", "version": version, "sha256": SHA},
        "rollout": {"strategy": strategy},
    }


def basic_plan(md: ModelDeployment, health: dict[str, TrackHealth], now: datetime) -> Any:
    return engine_plan(md, health, now, [])


def _settle(md: ModelDeployment, health: dict[str, TrackHealth] | None = None) -> ModelDeployment:
    """Run one decide step and store the status it computes (as the reconciler would)."""
    health = health or {"v1": TrackHealth(1, 1)}
    plan = basic_plan(md, health, NOW)
    status = new_status(md, plan=plan, health=health, problems=[], stable_updating=False, now=NOW)
    return md.model_copy(update={"status": status})


def _as_server_returns(obj: dict[str, Any]) -> dict[str, Any]:
    """What a GET returns after an apply: defaults, resourceVersion, status added."""
    have = copy.deepcopy(obj)
    have["metadata"]["resourceVersion"] = "42"
    have["metadata"]["generation"] = 1
    have["metadata"]["managedFields"] = [{"manager": "canaria-operator"}]
    if obj["kind"] == "Deployment":
        have["spec"]["template"]["spec"]["dnsPolicy"] = "ClusterFirst"
        have["status"] = {"replicas": 1, "readyReplicas": 1}
    if obj["kind"] == "Service":
        have["spec"]["clusterIP"] = "10.0.0.12"
    return have


def test_first_version_becomes_stable() -> None:
    md = make_md(_model("v1"))
    plan = basic_plan(md, {}, NOW)
    assert plan.stable.version == "v1"
    assert plan.canary is None
    desired = desired_objects(md, plan, SETTINGS, frozenset())
    assert sorted(desired) == [
        ("Deployment", "iris-router"),
        ("Deployment", "iris-v1"),
        ("Role", "iris-router"),
        ("RoleBinding", "iris-router"),
        ("Service", "iris"),
        ("Service", "iris-stable"),
        ("ServiceAccount", "iris-router"),
    ]
    assert desired[("Service", "iris")]["spec"]["selector"]["app.kubernetes.io/component"] == (
        "router"
    )
    assert desired[("Service", "iris-stable")]["spec"]["selector"]["canaria.dev/version"] == "v1"


def test_unchanged_object_needs_no_write() -> None:
    md = _settle(make_md(_model("v1")))
    plan = basic_plan(md, {"v1": TrackHealth(1, 1)}, NOW)
    desired = desired_objects(md, plan, SETTINGS, frozenset())
    observed = Observed(objects={k: _as_server_returns(v) for k, v in desired.items()})
    assert plan_writes(md, desired, observed) == []


def test_missing_outdated_foreign_and_stale_objects_are_written() -> None:
    md = _settle(make_md(_model("v1")))
    plan = basic_plan(md, {}, NOW)
    desired = desired_objects(md, plan, SETTINGS, frozenset())
    have = {k: _as_server_returns(v) for k, v in desired.items()}
    have[("Deployment", "iris-v1")]["metadata"]["annotations"]["canaria.dev/spec-hash"] = "old"
    del have[("Service", "iris-stable")]
    stale = _as_server_returns(desired[("Service", "iris")])
    stale["metadata"]["name"] = "iris-canary"
    have[("Service", "iris-canary")] = stale
    writes = [(w.op, w.key) for w in plan_writes(md, desired, Observed(objects=have))]
    assert writes == [
        ("apply", ("Deployment", "iris-v1")),
        ("apply", ("Service", "iris-stable")),
        ("delete", ("Service", "iris-canary")),
    ]
    # an object with the right hash but another owner is taken over (applied), not trusted
    foreign = _as_server_returns(desired[("Service", "iris-stable")])
    foreign["metadata"]["ownerReferences"] = [{"uid": "someone-else"}]
    observed = Observed(objects={("Service", "iris-stable"): foreign})
    assert ("apply", ("Service", "iris-stable")) in [
        (w.op, w.key) for w in plan_writes(md, desired, observed)
    ]


def test_immediate_replaces_stable() -> None:
    md = _settle(make_md(_model("v1", "Immediate")))
    changed = ModelDeployment.parse(
        {**_body(md), "spec": make_md(_model("v2", "Immediate")).spec.model_dump(by_alias=True)}
    )
    plan = basic_plan(changed, {"v1": TrackHealth(1, 1)}, NOW)
    assert (plan.stable.version, plan.canary) == ("v2", None)
    assert [e.reason for e in plan.events] == ["ReplacedImmediately"]
    desired = desired_objects(changed, plan, SETTINGS, frozenset())
    dep = desired[("Deployment", "iris-v2")]
    assert dep["spec"]["template"]["metadata"]["labels"]["canaria.dev/version"] == "v2"
    assert ("Deployment", "iris-v1") not in desired


def _body(md: ModelDeployment) -> dict[str, Any]:
    return {
        "metadata": md.metadata.model_dump(by_alias=True),
        "spec": md.spec.model_dump(by_alias=True),
        "status": md.status.to_json(),
    }


@pytest.mark.parametrize("strategy", ["Canary", "BlueGreen", "Shadow"])
def test_other_strategies_hand_a_canary_to_the_engine(strategy: str) -> None:
    md = _settle(make_md(_model("v1", strategy)))
    body = _body(md)
    body["spec"]["model"] = _model("v2")["model"]
    changed = ModelDeployment.parse(body)
    plan = basic_plan(changed, {"v1": TrackHealth(1, 1)}, NOW)
    assert plan.stable.version == "v1"
    assert plan.canary is not None
    assert plan.canary.version == "v2"
    assert plan.canary_weight == 0
    assert plan.rollout is not None
    assert (plan.rollout.phase, plan.rollout.stage) == (Phase.PROGRESSING, Stage.WAITING)
    assert plan.rollout.canary_version == "v2"
    assert plan.rollout.started_at == NOW
    desired = desired_objects(changed, plan, SETTINGS, frozenset())
    assert ("Deployment", "iris-v2") in desired
    assert desired[("Service", "iris-canary")]["spec"]["selector"]["canaria.dev/version"] == "v2"
    status = new_status(changed, plan=plan, health={}, problems=[], stable_updating=False, now=NOW)
    assert status.phase == "Progressing"
    assert status.canary is not None
    assert status.canary.weight == 0
    assert status.stable is not None
    assert status.stable.weight == 100
    # the next reconcile keeps the rollout as it is (no restart, no new Event)
    again = changed.model_copy(update={"status": status})
    plan2 = basic_plan(again, {}, NOW + timedelta(minutes=1))
    assert plan2.rollout == plan.rollout
    assert plan2.events == ()


def test_conditions_keep_transition_time_until_status_changes() -> None:
    md = make_md(_model("v1"))
    t1 = NOW
    plan = basic_plan(md, {}, t1)
    s1 = new_status(
        md,
        plan=plan,
        health={"v1": TrackHealth(1, 0)},
        problems=[],
        stable_updating=False,
        now=t1,
    )
    assert s1.phase == "Pending"
    md = md.model_copy(update={"status": s1})
    t2 = NOW + timedelta(minutes=1)
    s2 = new_status(
        md,
        plan=plan,
        health={"v1": TrackHealth(1, 0, "0/1 pods Ready")},
        problems=[],
        stable_updating=False,
        now=t2,
    )
    ready = s2.condition("Ready")
    assert ready is not None
    assert ready.last_transition_time == t1
    md = md.model_copy(update={"status": s2})
    t3 = NOW + timedelta(minutes=2)
    s3 = new_status(
        md,
        plan=plan,
        health={"v1": TrackHealth(1, 1)},
        problems=[],
        stable_updating=False,
        now=t3,
    )
    ready = s3.condition("Ready")
    assert ready is not None
    assert (ready.status, ready.last_transition_time) == ("True", t3)
    assert s3.phase == "Ready"
    events = transition_events(s2, s3)
    assert [(e.type, e.reason) for e in events] == [
        ("Normal", "StableReady"),
        ("Normal", "PhaseReady"),
    ]
    assert transition_events(s3, s3) == []


def test_problems_make_degraded_with_reason_and_warning_event() -> None:
    md = _settle(make_md(_model("v1")))
    plan = basic_plan(md, {}, NOW)
    problems = [Problem(C.R_SECRET_NOT_FOUND, "Secret 'creds' not found in namespace ml")]
    status = new_status(
        md,
        plan=plan,
        health={"v1": TrackHealth(1, 1)},
        problems=problems,
        stable_updating=False,
        now=NOW,
    )
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert (degraded.status, degraded.reason) == ("True", "SecretNotFound")
    assert status.phase == "Degraded"
    events = transition_events(md.status, status)
    assert ("Warning", "SecretNotFound") in [(e.type, e.reason) for e in events]


def _pod(
    init: dict[str, Any] | None = None, main: dict[str, Any] | None = None, ready: bool = False
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]
    }
    if init is not None:
        status["initContainerStatuses"] = [{"name": "fetch", **init}]
    if main is not None:
        status["containerStatuses"] = [{"name": "serve", **main}]
    return {"metadata": {"name": "iris-stable-abc"}, "status": status}


def test_fetch_failure_is_a_problem_with_its_message() -> None:
    failed = {
        "state": {
            "terminated": {
                "exitCode": 3,
                "message": "canaria fetch: sha256 mismatch: expected aaa, got bbb",
            }
        }
    }
    health, problem = track_health({"spec": {"replicas": 1}}, [_pod(init=failed)])
    assert (health.desired, health.ready) == (1, 0)
    assert problem is not None
    assert problem.reason == "ModelFetchFailed"
    assert "sha256 mismatch" in problem.message
    assert health.reason == problem.message


def test_crashloop_and_recovered_pods() -> None:
    crash = {
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        "lastState": {"terminated": {"exitCode": 1, "message": "model file is not ONNX"}},
    }
    _, problem = track_health(None, [_pod(main=crash)])
    assert problem is not None
    assert problem.reason == "ContainerFailing"
    assert "model file is not ONNX" in problem.message
    recovered = {"state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}
    health, problem = track_health({"spec": {"replicas": 1}}, [_pod(main=recovered, ready=True)])
    assert problem is None
    assert health.ready == 1


def test_merge_patch_removes_and_changes() -> None:
    old = {
        "phase": "Progressing",
        "canary": {"version": "v2"},
        "stable": {"version": "v1", "weight": 90},
    }
    new = {"phase": "Ready", "stable": {"version": "v1", "weight": 100}}
    assert merge_patch(old, new) == {"phase": "Ready", "canary": None, "stable": {"weight": 100}}
    assert merge_patch(new, new) == {}
