"""Pure pieces of a reconcile: writes from desired vs observed objects, conditions and their
transition Events, pod health and problems, the merge patch of status."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from canaria_operator import conditions as C
from canaria_operator.api import ModelDeployment
from canaria_operator.conditions import Problem
from canaria_operator.events import transition_events
from canaria_operator.reconcile import Snapshot, desired_objects, placement_of, plan_writes
from canaria_operator.reconcile.health import TrackHealth, track_health
from canaria_operator.reconcile.patch import merge_patch
from canaria_operator.reconcile.status import new_status
from canaria_operator.rollout import RolloutState
from canaria_operator.settings import OperatorSettings
from tests.operator.helpers import SHA, make_md

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()
STATE = RolloutState(stable_version="v1", reason="NoRollout", message="serving v1")


def _model(version: str, strategy: str = "Canary") -> dict[str, Any]:
    return {
        "model": {"uri": f"https://m.local/{version}.onnx", "version": version, "sha256": SHA},
        "rollout": {"strategy": strategy},
    }


def _desired(md: ModelDeployment) -> dict[tuple[str, str], Any]:
    return desired_objects(Snapshot.of(md), placement_of(md, STATE), SETTINGS)


def _status(
    md: ModelDeployment, health: dict[str, TrackHealth], problems: list[Problem], now: datetime
) -> Any:
    return new_status(
        md,
        placement=placement_of(md, STATE),
        state=STATE,
        analysis=(),
        history=(),
        health=health,
        problems=problems,
        stable_updating=False,
        now=now,
    )


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


def test_unchanged_objects_need_no_write() -> None:
    md = make_md(_model("v1"))
    desired = _desired(md)
    assert plan_writes(md, desired, {k: _as_server_returns(v) for k, v in desired.items()}) == []


def test_missing_outdated_foreign_and_stale_objects_are_written() -> None:
    md = make_md(_model("v1"))
    desired = _desired(md)
    have = {k: _as_server_returns(v) for k, v in desired.items()}
    have[("Deployment", "iris-v1")]["metadata"]["annotations"]["canaria.dev/spec-hash"] = "old"
    del have[("Service", "iris-stable")]
    stale = _as_server_returns(desired[("Service", "iris")])
    stale["metadata"]["name"] = "iris-canary"
    have[("Service", "iris-canary")] = stale
    writes = [(w.op, w.key) for w in plan_writes(md, desired, have)]
    assert writes == [
        ("apply", ("Deployment", "iris-v1")),
        ("apply", ("Service", "iris-stable")),
        ("delete", ("Service", "iris-canary")),
    ]
    # an object with the right hash but another owner is taken over (applied), not trusted
    foreign = _as_server_returns(desired[("Service", "iris-stable")])
    foreign["metadata"]["ownerReferences"] = [{"uid": "someone-else"}]
    observed = {("Service", "iris-stable"): foreign}
    assert ("apply", ("Service", "iris-stable")) in [
        (w.op, w.key) for w in plan_writes(md, desired, observed)
    ]
    # objects of a version skipped this time (its Secret is missing) are kept, not deleted
    kept = plan_writes(md, {}, have, frozenset({("Deployment", "iris-v1")}))
    assert ("delete", ("Deployment", "iris-v1")) not in [(w.op, w.key) for w in kept]


def test_conditions_keep_transition_time_until_status_changes() -> None:
    md = make_md(_model("v1"))
    t1, t2, t3 = NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)
    s1 = _status(md, {"v1": TrackHealth(1, 0)}, [], t1)
    assert s1.phase == "Pending"
    md = md.model_copy(update={"status": s1})
    s2 = _status(md, {"v1": TrackHealth(1, 0, "0/1 pods Ready")}, [], t2)
    ready = s2.condition("Ready")
    assert ready is not None
    assert ready.last_transition_time == t1
    md = md.model_copy(update={"status": s2})
    s3 = _status(md, {"v1": TrackHealth(1, 1)}, [], t3)
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
    md = make_md(_model("v1"))
    md = md.model_copy(update={"status": _status(md, {"v1": TrackHealth(1, 1)}, [], NOW)})
    problems = [Problem(C.R_SECRET_NOT_FOUND, "Secret 'creds' not found in namespace ml")]
    status = _status(md, {"v1": TrackHealth(1, 1)}, problems, NOW)
    degraded = status.condition("Degraded")
    assert degraded is not None
    assert (degraded.status, degraded.reason) == ("True", "SecretNotFound")
    assert status.phase == "Degraded"
    events = transition_events(md.status, status)
    assert [(e.type, e.reason) for e in events] == [
        ("Warning", "SecretNotFound"),
        ("Warning", "PhaseDegraded"),
    ]


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


def test_a_container_over_its_memory_limit_is_reported_as_oomkilled() -> None:
    oom = {
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
    }
    pod = _pod(main=oom)
    pod["spec"] = {"containers": [{"name": "serve", "resources": {"limits": {"memory": "48Mi"}}}]}
    _, problem = track_health(None, [pod])
    assert problem is not None
    assert problem.reason == "OOMKilled"
    assert problem.message == (
        "pod iris-stable-abc: container serve was OOMKilled: it needs more than its memory "
        "limit 48Mi (spec.serving.resources.limits.memory)"
    )


def test_merge_patch_removes_and_changes() -> None:
    old = {
        "phase": "Progressing",
        "canary": {"version": "v2"},
        "stable": {"version": "v1", "weight": 90},
    }
    new = {"phase": "Ready", "stable": {"version": "v1", "weight": 100}}
    assert merge_patch(old, new) == {"phase": "Ready", "canary": None, "stable": {"weight": 100}}
    assert merge_patch(new, new) == {}
