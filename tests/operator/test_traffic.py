"""Traffic modes behind one interface: what each can judge, how many pods each version gets,
which objects it owns, and the HTTPRoute update of GatewayAPI (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from canaria_operator.analysis import AnalysisConfig, CustomMetric, Verdict
from canaria_operator.api import ModelDeployment
from canaria_operator.reconcile import Outcome, Snapshot, decide
from canaria_operator.rollout import Stage
from canaria_operator.traffic import (
    MODES,
    ROLE_CANARY,
    ROLE_PREVIOUS,
    ROLE_STABLE,
    Builtin,
    GatewayAPI,
    Placement,
    Replicas,
    RouteRead,
    RouteRef,
    traffic_mode,
)
from canaria_operator.traffic.gatewayapi import weighted_rules
from canaria_operator.traffic.replicas import replica_split
from canaria_operator.workloads import Artifact, Scale
from tests.operator.cluster_sim import SETTINGS, T0, FakeCluster, route_for
from tests.operator.helpers import SHA, make_md

V1, V2, V0 = (Artifact(v, f"https://m.local/{v}.onnx", SHA) for v in ("v1", "v2", "v0"))


def _md(router: str = "Replicas", strategy: str = "Canary", **serving: Any) -> Any:
    traffic: dict[str, Any] = {"router": router}
    if router == "GatewayAPI":
        traffic["httpRouteRef"] = {"name": "r"}
    return make_md(
        {
            "model": {"uri": "https://m.local/v1.onnx", "version": "v1", "sha256": SHA},
            "serving": serving or {"replicas": 4},
            "rollout": {"strategy": strategy, "traffic": traffic},
        }
    )


def test_the_mode_is_chosen_once_from_the_spec() -> None:
    assert set(MODES) == {"Builtin", "Replicas", "GatewayAPI"}
    for name, cls in MODES.items():
        mode = traffic_mode(_md(name))
        assert type(mode) is cls
        assert mode.name == name


@pytest.mark.parametrize(
    ("mode", "checks", "stages"),
    [
        (Builtin, "shadow", {Stage.SHADOW, Stage.PREVIEW, Stage.STEPS}),
        (Builtin, "only-shadow", {Stage.SHADOW, Stage.PREVIEW}),
        (GatewayAPI, "default", {Stage.SHADOW, Stage.PREVIEW, Stage.STEPS}),
        (GatewayAPI, "only-shadow", set()),  # nobody compares the Gateway's copies
        (Replicas, "default", {Stage.STEPS}),  # nothing reaches a preview: not judged
        (Replicas, "custom", {Stage.STEPS}),
        (Replicas, "none", set()),
    ],
)
def test_what_each_mode_can_judge(mode: Any, checks: str, stages: set[Stage]) -> None:
    off = {"max_error_rate": None, "error_rate_alpha": None, "max_latency_ratio": None}
    config = {
        "default": AnalysisConfig(),
        "shadow": AnalysisConfig(min_shadow_agreement=0.95),
        "only-shadow": AnalysisConfig(**off, min_shadow_agreement=0.95),
        "custom": AnalysisConfig(**off, custom=(CustomMetric(name="q", query="q", max=1),)),
        "none": AnalysisConfig(**off),
    }[checks]
    assert mode(_md(mode.name)).judged_stages(config) == stages


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        (4, 0, (4, 0)),
        (4, 25, (3, 1)),
        (4, 50, (2, 2)),
        (1, 10, (1, 1)),
        (10, 10, (9, 1)),
        (3, 100, (0, 3)),
        (8, 10, (7, 1)),
    ],
)
def test_replica_split(total: int, weight: int, expected: tuple[int, int]) -> None:
    assert replica_split(total, weight) == expected


def _placement(stage: Stage | None, weight: int = 0, previous: bool = False) -> Placement:
    return Placement(
        stable=V1,
        canary=V2,
        previous=V0 if previous else None,
        canary_weight=weight,
        stage=stage,
    )


@pytest.mark.parametrize(
    ("strategy", "placement", "scales", "selects_stable_only"),
    [
        # waiting for its first step: one canary pod, which clients do not reach
        ("Canary", _placement(Stage.WAITING), (Scale.fixed(4), Scale.fixed(1)), True),
        ("Canary", _placement(Stage.STEPS, 25), (Scale.fixed(3), Scale.fixed(1)), False),
        # a warm previous stable is scaled to 0 while every pod takes traffic
        (
            "Canary",
            _placement(Stage.STEPS, 50, previous=True),
            (Scale.fixed(2), Scale.fixed(2), Scale.fixed(0)),
            False,
        ),
        # the BlueGreen preview runs at full size, behind no Service clients use
        ("BlueGreen", _placement(Stage.PREVIEW), (Scale.fixed(4), Scale.fixed(4)), True),
        # rolled back (no stage): the canary has no pods
        ("Canary", _placement(None), (Scale.fixed(4), Scale.fixed(0)), False),
        # after a promotion: the previous stable stays warm, clients reach the new one only
        (
            "Canary",
            Placement(stable=V2, previous=V1),
            (Scale.fixed(4), None, Scale.fixed(4)),
            True,
        ),
    ],
)
def test_replicas_sizes_versions_and_keeps_clients_off_idle_ones(
    strategy: str,
    placement: Placement,
    scales: tuple[Scale | None, ...],
    selects_stable_only: bool,
) -> None:
    mode = Replicas(_md(strategy=strategy))
    roles = (ROLE_STABLE, ROLE_CANARY, ROLE_PREVIOUS)
    for role, want in zip(roles, scales, strict=False):
        if want is not None:
            assert mode.scale(placement, role) == want, role
    (svc,) = mode.objects(placement, SETTINGS)
    selector = svc["spec"]["selector"]
    assert selector["app.kubernetes.io/component"] == "serving"
    if selects_stable_only:
        assert selector["canaria.dev/version"] == placement.stable.version
    else:
        assert "canaria.dev/version" not in selector


@pytest.mark.parametrize(
    ("weight", "stable", "canary"),
    [(10, Scale.auto(1, 7), Scale.auto(1, 1)), (50, Scale.auto(1, 4), Scale.auto(1, 4))],
)
def test_replicas_scales_the_autoscalers_bounds_by_the_weight(
    weight: int, stable: Scale, canary: Scale
) -> None:
    mode = Replicas(_md(autoscaling={"minReplicas": 2, "maxReplicas": 8}))
    p = _placement(Stage.STEPS, weight)
    assert (mode.scale(p, ROLE_STABLE), mode.scale(p, ROLE_CANARY)) == (stable, canary)
    # the other modes give every version the spec's bounds
    assert Builtin(_md("Builtin", autoscaling={"minReplicas": 2, "maxReplicas": 8})).scale(
        p, ROLE_CANARY
    ) == Scale.auto(2, 8)


def test_builtin_owns_the_router_and_points_the_model_service_at_it() -> None:
    objs = Builtin(_md("Builtin")).objects(_placement(Stage.STEPS, 20), SETTINGS)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objs]
    assert kinds == [
        ("ServiceAccount", "iris-router"),
        ("Role", "iris-router"),
        ("RoleBinding", "iris-router"),
        ("Deployment", "iris-router"),
        ("Service", "iris"),
    ]
    assert objs[-1]["spec"]["selector"]["app.kubernetes.io/component"] == "router"
    assert GatewayAPI(_md("GatewayAPI")).objects(_placement(None), SETTINGS) == []


def test_gateway_api_weights_are_written_into_the_route() -> None:
    route = {
        "spec": {
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "iris-stable", "port": 8080}],
                },
                {"backendRefs": [{"name": "other", "port": 80}]},
            ]
        }
    }
    rules = weighted_rules(route, "iris", canary_weight=20, canary=True)
    assert rules is not None
    assert rules[0]["backendRefs"] == [
        {"name": "iris-stable", "port": 8080, "weight": 80},
        {"name": "iris-canary", "port": 8080, "weight": 20},
    ]
    assert rules[1] == route["spec"]["rules"][1]
    mirrored = weighted_rules(route, "iris", canary_weight=0, canary=True, mirror_percent=100)
    assert mirrored is not None
    assert mirrored[0]["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "iris-canary", "port": 8080}},
        }
    ]  # 100 %: no percent field (the Gateway API default)
    done = weighted_rules({"spec": {"rules": mirrored}}, "iris", canary_weight=0, canary=False)
    assert done is not None
    assert done[0]["backendRefs"] == [{"name": "iris-stable", "port": 8080, "weight": 100}]
    assert "filters" not in done[0]
    assert (
        weighted_rules({"spec": {"rules": rules[1:]}}, "iris", canary_weight=0, canary=False)
        is None
    )


@pytest.mark.parametrize(
    ("route", "error", "reason", "words"),
    [
        (None, None, "HTTPRouteNotFound", "HTTPRoute ml/iris-route not found"),
        ({"spec": {"rules": []}}, None, "HTTPRouteInvalid", "no rule has a backendRef"),
        (None, "forbidden", "HTTPRouteInvalid", "HTTPRoute ml/iris-route: forbidden"),
    ],
)
def test_a_route_that_cannot_be_steered_degrades_with_its_reason(
    route: dict[str, Any] | None, error: str | None, reason: str, words: str
) -> None:
    md = ModelDeployment.parse(FakeCluster(_gateway_spec()).body)
    seen = RouteRead(RouteRef("ml", "iris-route"), route, error)
    o = decide(Snapshot.of(md, route=seen), [], T0, SETTINGS)
    assert o.route is None
    status, got, message = _conditions(o)["Degraded"]
    assert (status, got) == ("True", reason)
    assert words in message


def test_gateway_mirroring_adds_and_removes_its_request_mirror_filter() -> None:
    cluster = FakeCluster(_gateway_spec(mirrorPercent=30), route=route_for("iris"))
    cluster.reconcile()
    cluster.reconcile(advance=1)
    assert cluster.route is not None
    cluster.route["spec"]["rules"][0]["filters"] = [
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {"set": [{"name": "x", "value": "1"}]},
        }
    ]
    cluster.release("v2")
    cluster.reconcile(advance=1)
    o = cluster.reconcile(advance=1)
    assert o.route is not None
    (rule,) = o.route.patch["spec"]["rules"]
    assert rule["filters"] == [
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {"set": [{"name": "x", "value": "1"}]},
        },
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "iris-canary", "port": 8080}, "percent": 30},
        },
    ]
    assert [r["weight"] for r in rule["backendRefs"]] == [100, 0]
    o = cluster.reconcile(Verdict.SUCCESSFUL, advance=30)  # shadow passed: first step
    assert o.route is not None
    (rule,) = o.route.patch["spec"]["rules"]
    assert [f["type"] for f in rule["filters"]] == ["RequestHeaderModifier"]  # the user's
    assert [r["weight"] for r in rule["backendRefs"]] == [80, 20]


def _conditions(o: Outcome) -> dict[str, tuple[str, str, str]]:
    return {c.type: (c.status, c.reason, c.message) for c in o.status.conditions}


def _gateway_spec(**traffic: Any) -> dict[str, Any]:
    return {
        "model": {"uri": "https://m.local/v1.onnx", "version": "v1", "sha256": SHA},
        "rollout": {
            "strategy": "Shadow",
            "steps": [{"weight": 20}, {"weight": 50}],
            "traffic": {"router": "GatewayAPI", "httpRouteRef": {"name": "iris-route"}, **traffic},
        },
    }
