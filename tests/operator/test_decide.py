"""The pure decision, scenario by scenario: the exact writes, route update, status and Events
``decide(snapshot, checks, now)`` returns (the cluster is ``FakeCluster``: what the previous
Outcomes wrote, with pods for each Deployment)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from canaria_operator import conditions as C
from canaria_operator.analysis import Verdict
from canaria_operator.conditions import Problem
from canaria_operator.reconcile import Outcome, Snapshot, decide
from canaria_operator.reconcile.status import invalid_status
from tests.operator.cluster_sim import SETTINGS, T0, FakeCluster, route_for
from tests.operator.helpers import SHA

ROUTER = [
    ("apply", "ServiceAccount", "iris-router"),
    ("apply", "Role", "iris-router"),
    ("apply", "RoleBinding", "iris-router"),
    ("apply", "Deployment", "iris-router"),
]


def _spec(version: str = "v1", *, router: str = "Builtin", **rollout: Any) -> dict[str, Any]:
    traffic: dict[str, Any] = {"router": router}
    if router == "GatewayAPI":
        traffic["httpRouteRef"] = {"name": "iris-route"}
    return {
        "model": {"uri": f"https://m.local/{version}.onnx", "version": version, "sha256": SHA},
        "serving": {"replicas": 4},
        "rollout": {"steps": [{"weight": 20}, {"weight": 50}], "traffic": traffic, **rollout},
    }


def _writes(o: Outcome) -> list[tuple[str, str, str]]:
    return [(w.op, *w.key) for w in o.writes]


def _events(o: Outcome) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in o.events]


def _conditions(o: Outcome) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in o.status.conditions}


def _ready(router: str = "Builtin", **rollout: Any) -> FakeCluster:
    route = route_for("iris") if router == "GatewayAPI" else None
    cluster = FakeCluster(_spec(router=router, **rollout), route=route)
    cluster.reconcile()
    cluster.reconcile(advance=1)
    return cluster


def test_first_version_writes_its_objects_and_a_pending_status() -> None:
    cluster = FakeCluster(_spec())
    o = cluster.reconcile()
    assert _writes(o) == [
        ("apply", "Deployment", "iris-v1"),
        ("apply", "Service", "iris-stable"),
        ("apply", "Service", "iris"),
        *ROUTER,
    ]
    assert o.route is None
    assert (o.requeue_after, o.clear_action) == (None, False)
    stamp = "2026-01-01T12:00:00Z"
    status = o.status.to_json()
    assert status == {
        "observedGeneration": 1,
        "modelName": "iris",
        "phase": "Pending",
        "conditions": [
            {
                "type": t,
                "status": s,
                "reason": r,
                "message": m,
                "lastTransitionTime": stamp,
                "observedGeneration": 1,
            }
            for t, s, r, m in (
                ("Ready", "False", "StableNotReady", "stable v1: no Deployment yet"),
                ("Progressing", "True", "StableUpdating", "stable track rolling out v1"),
                ("Degraded", "False", "AsExpected", "no problems"),
            )
        ],
        "stable": {
            "version": "v1",
            "uri": "https://m.local/v1.onnx",
            "sha256": SHA,
            "deployment": "iris-v1",
            "weight": 100,
        },
        "rollout": {
            "phase": "Idle",
            "stableVersion": "v1",
            "canaryWeight": 0,
            "mirrorPercent": 0,
            "stepIndex": -1,
            "successes": 0,
            "consecutiveFailures": 0,
            "consecutiveErrors": 0,
            "consecutiveInconclusive": 0,
            "reason": "NoRollout",
            "message": "serving v1",
            "gateAttempts": 0,
            "postRolloutPending": False,
            "replayRps": 0.0,
        },
        "analysis": [],
        "history": [],
        "webhooks": [],
    }
    assert _events(o) == [
        ("Warning", "StableNotReady"),
        ("Normal", "StableUpdating"),
        ("Normal", "PhasePending"),
    ]


@pytest.mark.parametrize("router", ["Builtin", "Replicas"])
def test_ready_waits_for_a_router_pod_where_the_traffic_mode_runs_one(router: str) -> None:
    cluster = FakeCluster(_spec(router=router))
    cluster.reconcile()
    if router == "Builtin":  # its stable pods are Ready, its router's pod not yet
        cluster.objects[("Deployment", "iris-router")]["status"]["readyReplicas"] = 0
    o = cluster.reconcile(advance=1)
    ready = _conditions(o)["Ready"]
    if router == "Builtin":
        assert o.status.phase == "Pending"
        assert ready == (
            "False",
            C.R_ROUTER_NOT_READY,
            "stable v1: 4/4 pods Ready; router 0/1 pods Ready",
        )
        cluster.objects[("Deployment", "iris-router")]["status"]["readyReplicas"] = 1
        o = cluster.reconcile(advance=1)
        assert _conditions(o)["Ready"][:2] == ("True", C.R_STABLE_READY)
    else:  # no router: the stable's pods are the whole story
        assert ready == ("True", C.R_STABLE_READY, "stable v1: 4/4 pods Ready")
    assert o.status.phase == "Ready"


def test_an_unchanged_object_needs_no_write_and_no_status() -> None:
    cluster = _ready()
    stored = copy.deepcopy(cluster.status)
    o = cluster.reconcile(advance=30)
    assert (_writes(o), o.route, o.events) == ([], None, ())
    assert o.status.to_json() == stored
    assert stored["phase"] == "Ready"


@pytest.mark.parametrize(
    ("router", "writes"),
    [
        ("Builtin", []),  # the router reads the weight from status: nothing to write
        # 20 % of 4 pods: the stable goes to 3 (the waiting canary already runs its one pod),
        # and the model Service, which selected v1's pods only, now selects every pod
        ("Replicas", [("apply", "Deployment", "iris-v1"), ("apply", "Service", "iris")]),
        ("GatewayAPI", []),  # the HTTPRoute carries it: see the route update
    ],
)
def test_a_new_version_starts_waiting_then_takes_its_first_step(
    router: str, writes: list[tuple[str, str, str]]
) -> None:
    cluster = _ready(router)
    cluster.release("v2")
    o = cluster.reconcile(advance=1)
    assert _writes(o)[:2] == [
        ("apply", "Deployment", "iris-v2"),
        ("apply", "Service", "iris-canary"),
    ]
    assert _events(o) == [
        ("Normal", "RolloutStarted"),
        ("Normal", "RolloutInProgress"),
        ("Normal", "PhaseProgressing"),
    ]
    assert o.status.phase == "Progressing"
    assert o.status.canary is not None
    assert (o.status.canary.version, o.status.canary.weight) == ("v2", 0)
    assert _conditions(o)["Progressing"] == (
        "True",
        "RolloutInProgress",
        "waiting for canary pods: no Ready canary pods",
    )
    o = cluster.reconcile(advance=1)
    assert _writes(o) == writes
    assert _events(o) == [("Normal", "StepAdvanced")]
    assert o.requeue_after == 30  # the first round is due one analysis interval later
    assert o.status.canary is not None
    assert o.status.stable is not None
    assert (o.status.stable.weight, o.status.canary.weight, o.status.current_step) == (80, 20, 0)
    if router == "GatewayAPI":
        assert o.route is not None
        (rule,) = o.route.patch["spec"]["rules"]
        assert rule["backendRefs"] == [
            {"name": "iris-stable", "port": 8080, "weight": 80},
            {"name": "iris-canary", "port": 8080, "weight": 20},
        ]
        assert "filters" not in rule
    else:
        assert o.route is None


def test_failed_rounds_roll_back_keep_the_canary_warm_then_delete_it() -> None:
    cluster = _ready(failureThreshold=2)
    cluster.release("v3")
    cluster.reconcile(advance=1)
    cluster.reconcile(advance=1)
    o = cluster.reconcile(Verdict.FAILED, advance=30)
    assert _events(o) == [("Warning", "AnalysisFailed")]
    assert [(a.metric, a.verdict) for a in o.status.analysis] == [
        ("error-rate", "Failed"),
        ("latency-p99", "Failed"),
    ]
    o = cluster.reconcile(Verdict.FAILED, advance=30)
    assert _writes(o) == []  # weight 0 is a status change: the router reads it
    assert o.status.canary is not None
    assert (o.status.phase, o.status.canary.weight) == ("RolledBack", 0)
    assert o.status.history[-1].result == "RolledBack"
    assert ("Warning", "AnalysisFailed") in _events(o)
    assert ("Warning", "PhaseRolledBack") in _events(o)
    o = cluster.reconcile(advance=301)  # scaleDownDelay 5m
    assert _writes(o) == [
        ("delete", "Deployment", "iris-v3"),
        ("delete", "Service", "iris-canary"),
    ]
    assert o.status.phase == "RolledBack"  # spec still asks for v3: status says so


def test_immediate_replaces_the_stable_once_the_new_pods_are_ready() -> None:
    cluster = _ready(strategy="Immediate")
    cluster.release("v2")
    o = cluster.reconcile(advance=1)
    assert _writes(o) == [("apply", "Deployment", "iris-v2"), ("apply", "Service", "iris-canary")]
    assert o.status.stable.version == "v1"
    assert cluster.answers() == {"v1": 1.0}
    o = cluster.reconcile(advance=1)  # its pods are Ready now
    assert ("apply", "Service", "iris-stable") in _writes(o)
    assert ("delete", "Deployment", "iris-v1") not in _writes(o)  # warm until the delay
    assert [(h.version, h.result, h.reason) for h in o.status.history] == [
        ("v2", "Replaced", "ReplacedImmediately: v1 replaced by v2")
    ]
    assert ("Normal", "ReplacedImmediately") in _events(o)
    assert cluster.answers() == {"v2": 1.0}


def test_an_unknown_action_is_refused_with_an_event_and_cleared() -> None:
    cluster = _ready()
    cluster.annotate("promote-now")
    o = cluster.reconcile(advance=1)
    assert o.clear_action
    assert _events(o) == [("Warning", "ActionIgnored")]
    assert "promote-now" in o.events[0].message
    assert "canaria.dev/action" not in cluster.body["metadata"]["annotations"]


def test_promote_then_abort_swaps_back_to_the_warm_previous() -> None:
    cluster = _ready()
    cluster.release("v2")
    cluster.reconcile(advance=1)
    cluster.annotate("promote")
    o = cluster.reconcile(advance=1)
    assert o.clear_action
    assert (o.status.stable.version, o.status.canary) == ("v2", None)  # type: ignore[union-attr]
    assert o.status.previous is not None
    assert o.status.previous.version == "v1"
    assert ("apply", "Deployment", "iris-v1") in _writes(o)  # relabelled "previous"
    cluster.annotate("abort")
    o = cluster.reconcile(advance=1)
    assert o.status.stable is not None
    assert o.status.canary is not None
    assert (o.status.stable.version, o.status.canary.version, o.status.canary.weight) == (
        "v1",
        "v2",
        0,
    )
    assert cluster.answers() == {"v1": 1.0}


def test_a_missing_secret_degrades_and_leaves_its_version_alone() -> None:
    cluster = _ready()
    cluster.release("v2")
    cluster.body["spec"]["model"]["credentialsSecretRef"] = {"name": "creds"}
    snap = cluster.snapshot()
    snap = Snapshot(snap.md, snap.inputs, snap.objects, snap.pods, frozenset({"creds"}))
    o = decide(snap, [], T0 + timedelta(seconds=5), SETTINGS)
    assert ("apply", "Deployment", "iris-v2") not in _writes(o)
    assert ("apply", "Service", "iris-canary") in _writes(o)
    assert o.status.phase == "Degraded"
    assert _conditions(o)["Degraded"] == (
        "True",
        "SecretNotFound",
        "Secret 'creds' not found in namespace ml",
    )
    assert ("Warning", "SecretNotFound") in _events(o)


def test_a_refused_write_joins_the_degraded_condition_of_the_same_status() -> None:
    cluster = FakeCluster(_spec())
    snap = cluster.snapshot()
    o = decide(snap, [], T0, SETTINGS)
    refused = o.refused(
        snap.md, [Problem(C.R_APPLY_FAILED, "apply Role iris-router: forbidden")], T0
    )
    assert refused.status.phase == "Degraded"
    assert _conditions(refused)["Degraded"] == (
        "True",
        "ApplyFailed",
        "apply Role iris-router: forbidden",
    )
    assert ("Warning", "ApplyFailed") in _events(refused)
    assert refused.writes == o.writes


def test_an_unreadable_object_is_degraded_once() -> None:
    body = FakeCluster(_spec()).body
    status = invalid_status(body, "spec.rollout: bad", T0)
    assert status is not None
    assert status["phase"] == "Degraded"
    assert status["conditions"][0]["reason"] == "InvalidSpec"
    assert invalid_status({**body, "status": status}, "spec.rollout: bad", T0) is None


def test_undecided_rounds_pause_the_rollout_with_a_reason_in_status() -> None:
    cluster = _ready(maxInconclusiveRounds=2)
    cluster.release("v2")
    cluster.reconcile(advance=1)
    cluster.reconcile(advance=1)
    o = cluster.reconcile(Verdict.INCONCLUSIVE, advance=30)
    assert (o.status.phase, _events(o)) == ("Progressing", [])
    o = cluster.reconcile(Verdict.INCONCLUSIVE, advance=30)
    assert o.status.phase == "Paused"
    status, reason, message = _conditions(o)["Progressing"]
    assert (status, reason) == ("True", "RolloutPaused")
    assert "paused after 2 inconclusive rounds (maxInconclusiveRounds 2)" in message
    assert _events(o) == [
        ("Warning", "AnalysisInconclusive"),
        ("Normal", "RolloutPaused"),
        ("Normal", "PhasePaused"),
    ]
    assert o.status.rollout is not None
    assert (o.status.rollout.paused_by, o.status.canary.weight) == ("Inconclusive", 20)  # type: ignore[union-attr]
    assert cluster.answers() == {"v1": 0.8, "v2": 0.2}  # held where it was


def test_a_canary_that_never_gets_ready_is_rolled_back_naming_its_pods_reason() -> None:
    cluster = _ready(progressDeadline="2m")
    cluster.release("v6")
    cluster.unready["v6"] = "back-off 40s restarting failed container serve"
    cluster.reconcile(advance=1)
    o = cluster.reconcile(advance=60)
    assert o.status.canary is not None
    assert (o.status.phase, o.status.canary.weight) == ("Progressing", 0)
    o = cluster.reconcile(advance=61)
    assert o.status.rollout is not None
    assert (o.status.phase, o.status.rollout.reason) == ("RolledBack", "ProgressDeadlineExceeded")
    assert "CrashLoopBackOff: back-off 40s" in o.status.rollout.message
    assert cluster.answers() == {"v1": 1.0}
    # a failing canary is the rollout's business, not a Degraded stable
    assert _conditions(o)["Degraded"][0] == "False"


def test_the_old_stable_goes_after_the_scale_down_delay() -> None:
    cluster = _ready()
    cluster.release("v2")
    cluster.reconcile(advance=1)
    cluster.annotate("promote")
    cluster.reconcile(advance=1)
    o = cluster.reconcile(advance=299)
    assert ("delete", "Deployment", "iris-v1") not in _writes(o)
    o = cluster.reconcile(advance=1)
    assert _writes(o) == [("delete", "Deployment", "iris-v1")]
    assert o.status.previous is None
