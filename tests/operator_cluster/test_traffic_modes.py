"""Traffic modes without the built-in router, on the dev cluster: the objects the operator
writes at each step. ``GatewayAPI``: weights in a referenced HTTPRoute (Gateway API CRDs
installed, no Gateway controller). ``Replicas``: weights approximated by replica counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cluster.kube import run, wait_for
from tests.operator_cluster.support import (
    Models,
    OperatorProcess,
    apply_md,
    get,
    owned,
    phase_is,
    wait_md,
)

pytestmark = pytest.mark.cluster


def _spec(
    models: Models, version: str, traffic: dict[str, Any], replicas: int = 1
) -> dict[str, Any]:
    return {
        "model": models(version),
        "serving": {"replicas": replicas},
        "rollout": {
            "strategy": "Canary",
            "steps": [{"weight": 25}, {"weight": 50}],
            "analysisInterval": "9m",  # no round during the test: the step holds
            "traffic": traffic,
        },
    }


def _annotate(cluster: Any, namespace: str, name: str, action: str) -> None:
    run(cluster, "kubectl", "annotate", "md", name, "-n", namespace, f"canaria.dev/action={action}")


def _route(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "public-gateway"}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": "gw-stable", "port": 8080}],
                }
            ],
        },
    }


def _refs(cluster: Any, namespace: str) -> list[tuple[str, int]]:
    route = get(cluster, namespace, "httproute", "gw-route")
    assert route is not None
    refs = route["spec"]["rules"][0]["backendRefs"]
    return [(r["name"], r.get("weight", 1)) for r in refs]


def test_gateway_api_weights_follow_the_rollout(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    run(crds, "kubectl", "apply", "-n", namespace, "-f", "-", stdin=json.dumps(_route("gw-route")))
    traffic = {"router": "GatewayAPI", "httpRouteRef": {"name": "gw-route"}}
    apply_md(crds, namespace, "gw", _spec(models, "v1", traffic))
    wait_md(crds, namespace, "gw", "Ready", phase_is("Ready"))
    assert _refs(crds, namespace) == [("gw-stable", 100)]
    assert not owned(crds, namespace, "deployment", "gw", component="router")
    apply_md(crds, namespace, "gw", _spec(models, "v2", traffic))
    wait_md(crds, namespace, "gw", "step 1", lambda m: m["status"].get("currentStep") == 0)
    wait_for(
        "weights 75/25 in the HTTPRoute",
        lambda: _refs(crds, namespace) == [("gw-stable", 75), ("gw-canary", 25)],
        timeout=20,
    )
    canary_svc = get(crds, namespace, "service", "gw-canary")
    assert canary_svc is not None
    assert canary_svc["spec"]["selector"]["canaria.dev/version"] == "v2"
    _annotate(crds, namespace, "gw", "promote")
    wait_md(crds, namespace, "gw", "promoted", lambda m: m["status"]["stable"]["version"] == "v2")
    wait_for(
        "stable 100, no canary backend",
        lambda: _refs(crds, namespace) == [("gw-stable", 100)],
        timeout=20,
    )
    stable_svc = get(crds, namespace, "service", "gw-stable")
    assert stable_svc is not None
    assert stable_svc["spec"]["selector"]["canaria.dev/version"] == "v2"
    route = get(crds, namespace, "httproute", "gw-route")
    assert route is not None
    assert route["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public-gateway"}
    ]  # the rest of the route is the user's, untouched


def test_missing_route_is_degraded_with_a_reason(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    traffic = {"router": "GatewayAPI", "httpRouteRef": {"name": "nowhere"}}
    apply_md(crds, namespace, "lost", _spec(models, "v1", traffic))
    md = wait_md(crds, namespace, "lost", "Degraded", phase_is("Degraded"))
    cond = next(c for c in md["status"]["conditions"] if c["type"] == "Degraded")
    assert cond["reason"] == "HTTPRouteNotFound"
    assert "nowhere" in cond["message"]


def test_replicas_mode_splits_pods(
    crds: Any, namespace: str, operator: OperatorProcess, models: Models
) -> None:
    traffic = {"router": "Replicas"}
    apply_md(crds, namespace, "rep", _spec(models, "v1", traffic, replicas=4))
    wait_md(crds, namespace, "rep", "Ready", phase_is("Ready"))
    svc = get(crds, namespace, "service", "rep")
    assert svc is not None
    assert "canaria.dev/version" not in svc["spec"]["selector"]
    assert not owned(crds, namespace, "deployment", "rep", component="router")
    apply_md(crds, namespace, "rep", _spec(models, "v2", traffic, replicas=4))
    wait_md(crds, namespace, "rep", "step 1", lambda m: m["status"].get("currentStep") == 0)

    def replicas() -> dict[str, int]:
        deps = owned(crds, namespace, "deployment", "rep")
        return {d["metadata"]["name"]: d["spec"]["replicas"] for d in deps}

    wait_for("3 stable + 1 canary pods", lambda: replicas() == {"rep-v1": 3, "rep-v2": 1}, 20)
    _annotate(crds, namespace, "rep", "abort")
    wait_md(crds, namespace, "rep", "RolledBack", phase_is("RolledBack"))
    wait_for("canary scaled to 0", lambda: replicas() == {"rep-v1": 4, "rep-v2": 0}, 20)
