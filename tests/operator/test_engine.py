"""The rollout planner as the reconciler drives it: spec + status + health + analysis -> plan.

Each step stores the status the core would compute, so these are whole rollouts of the pure
part of the operator (the API server is exercised by the cluster tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canaria_operator.analysis import CheckResult, Verdict
from canaria_operator.api import ModelDeployment
from canaria_operator.reconcile import (
    Observed,
    RolloutPlan,
    TrackHealth,
    desired_objects,
    engine_plan,
    new_status,
)
from canaria_operator.reconcile.engine import replica_split
from canaria_operator.rollout.model import Phase
from canaria_operator.settings import OperatorSettings
from canaria_operator.workloads.httproute import weighted_rules
from tests.operator.helpers import SHA, md_body

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = OperatorSettings()
READY = TrackHealth(1, 1)


def _spec(version: str, **rollout: Any) -> dict[str, Any]:
    return {
        "model": {"uri": f"https://m.local/{version}.onnx", "version": version, "sha256": SHA},
        "rollout": {
            "steps": [{"weight": 20}, {"weight": 50}],
            "analysisInterval": "30s",
            **rollout,
        },
    }


class World:
    """A ModelDeployment whose status is what the reconciler last wrote."""

    def __init__(self, version: str = "v1", **rollout: Any) -> None:
        self.body = md_body(_spec(version, **rollout))
        self.now = T0
        self.plan: RolloutPlan | None = None
        self.step({version: READY})

    @property
    def md(self) -> ModelDeployment:
        return ModelDeployment.parse(self.body)

    def set_version(self, version: str) -> None:
        self.body["spec"]["model"] = _spec(version)["model"]

    def annotate(self, action: str) -> None:
        self.body["metadata"].setdefault("annotations", {})["canaria.dev/action"] = action

    def step(
        self,
        health: dict[str, TrackHealth],
        verdict: Verdict | None = None,
        advance: float = 0.0,
    ) -> RolloutPlan:
        self.now += timedelta(seconds=advance)
        checks = (
            []
            if verdict is None
            else [CheckResult(metric="error-rate", verdict=verdict, at=self.now, message="x")]
        )
        md = self.md
        plan = engine_plan(md, health, self.now, checks)
        status = new_status(
            md, plan=plan, health=health, problems=[], stable_updating=False, now=self.now
        )
        self.body["status"] = status.to_json()
        if plan.clear_action:
            self.body["metadata"].get("annotations", {}).pop("canaria.dev/action", None)
        self.plan = plan
        return plan


def _deployments(world: World) -> set[str]:
    assert world.plan is not None
    desired = desired_objects(world.md, world.plan, SETTINGS, frozenset(), Observed())
    return {name for kind, name in desired if kind == "Deployment"}


def test_good_canary_steps_and_promotes_by_swapping_roles() -> None:
    w = World()
    w.set_version("v2")
    plan = w.step({"v1": READY})
    assert plan.canary is not None
    assert (plan.canary.version, plan.canary_weight) == ("v2", 0)
    assert _deployments(w) == {"iris-v1", "iris-v2", "iris-router"}
    plan = w.step({"v1": READY, "v2": READY}, advance=1)
    assert plan.canary_weight == 20
    assert plan.requeue_after == pytest.approx(30)
    plan = w.step({"v1": READY, "v2": READY}, Verdict.SUCCESSFUL, advance=30)
    assert plan.canary_weight == 50
    assert [a.metric for a in plan.analysis] == ["error-rate"]
    plan = w.step({"v1": READY, "v2": READY}, Verdict.SUCCESSFUL, advance=30)
    assert plan.stable.version == "v2"
    assert plan.canary is None
    assert plan.previous is not None
    assert plan.previous.version == "v1"
    assert plan.history[-1].result == "Promoted"
    # v1 stays warm (no traffic) and the promoted v2 Deployment is the same object
    assert _deployments(w) == {"iris-v1", "iris-v2", "iris-router"}
    status = w.md.status
    assert status.stable is not None
    assert (status.stable.version, status.stable.weight) == ("v2", 100)
    assert status.previous is not None
    assert status.previous.version == "v1"
    # after the scale-down delay (5m default) the old stable goes
    w.step({"v1": READY, "v2": READY}, advance=301)
    assert _deployments(w) == {"iris-v2", "iris-router"}
    assert w.md.status.previous is None


def test_failed_checks_roll_back_at_once_and_keep_the_canary_warm() -> None:
    w = World()
    w.set_version("v3")
    w.step({"v1": READY})
    w.step({"v1": READY, "v3": READY}, advance=1)
    plan = w.step({"v1": READY, "v3": READY}, Verdict.FAILED, advance=30)
    assert plan.canary_weight == 20  # one failed round of two
    assert [e.reason for e in plan.events] == ["AnalysisFailed"]
    plan = w.step({"v1": READY, "v3": READY}, Verdict.FAILED, advance=30)
    assert plan.canary_weight == 0
    assert plan.rollout is not None
    assert plan.rollout.phase is Phase.ROLLED_BACK
    assert w.md.status.phase == "RolledBack"
    assert "iris-v3" in _deployments(w)
    w.step({"v1": READY, "v3": READY}, advance=301)
    assert _deployments(w) == {"iris-v1", "iris-router"}
    assert w.md.status.phase == "RolledBack"  # spec still asks for v3: say so


def test_inconclusive_rounds_never_promote() -> None:
    w = World()
    w.set_version("v2")
    w.step({"v1": READY})
    w.step({"v1": READY, "v2": READY}, advance=1)
    for _ in range(10):
        plan = w.step({"v1": READY, "v2": READY}, Verdict.INCONCLUSIVE, advance=30)
        assert plan.canary_weight == 20
        assert plan.stable.version == "v1"


def test_manual_abort_after_promotion_restores_the_warm_previous() -> None:
    w = World()
    w.set_version("v2")
    w.step({"v1": READY})
    w.annotate("promote")
    plan = w.step({"v1": READY, "v2": READY}, advance=1)
    assert plan.stable.version == "v2"
    assert plan.clear_action
    assert "canaria.dev/action" not in w.body["metadata"]["annotations"]
    w.annotate("abort")
    plan = w.step({"v1": READY, "v2": READY}, advance=1)
    assert plan.stable.version == "v1"
    assert plan.canary is not None
    assert (plan.canary.version, plan.canary_weight) == ("v2", 0)


def test_unknown_action_is_refused_with_an_event_and_cleared() -> None:
    w = World()
    w.annotate("promote-now")
    plan = w.step({"v1": READY})
    assert plan.clear_action
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", "ActionIgnored")]
    assert "promote-now" in plan.events[0].message


def test_canary_that_never_gets_ready_is_rolled_back_at_the_deadline() -> None:
    w = World(progressDeadline="2m")
    w.set_version("v6")
    w.step({"v1": READY})
    broken = TrackHealth(1, 0, "pod x: container fetch failed: sha256 mismatch")
    plan = w.step({"v1": READY, "v6": broken}, advance=60)
    assert plan.canary_weight == 0
    assert plan.rollout is not None
    assert "sha256 mismatch" in plan.rollout.message
    plan = w.step({"v1": READY, "v6": broken}, advance=61)
    assert plan.rollout is not None
    assert plan.rollout.phase is Phase.ROLLED_BACK
    assert plan.rollout.reason == "ProgressDeadlineExceeded"
    assert "sha256 mismatch" in plan.rollout.message


@pytest.mark.parametrize(
    ("total", "weight", "waiting", "expected"),
    [
        (4, 0, False, (4, 0)),
        (4, 0, True, (4, 1)),
        (4, 25, False, (3, 1)),
        (4, 50, False, (2, 2)),
        (1, 10, False, (1, 1)),
        (10, 10, False, (9, 1)),
        (3, 100, False, (0, 3)),
    ],
)
def test_replicas_mode_split(
    total: int, weight: int, waiting: bool, expected: tuple[int, int]
) -> None:
    assert replica_split(total, weight, waiting) == expected


def test_replicas_mode_has_no_router_and_a_service_over_all_pods() -> None:
    w = World(traffic={"router": "Replicas"})
    names = _deployments(w)
    assert names == {"iris-v1"}
    assert w.plan is not None
    desired = desired_objects(w.md, w.plan, SETTINGS, frozenset(), Observed())
    assert "canaria.dev/version" not in desired[("Service", "iris")]["spec"]["selector"]


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
    done = weighted_rules({"spec": {"rules": rules}}, "iris", canary_weight=0, canary=False)
    assert done is not None
    assert done[0]["backendRefs"] == [{"name": "iris-stable", "port": 8080, "weight": 100}]
    assert (
        weighted_rules({"spec": {"rules": rules[1:]}}, "iris", canary_weight=0, canary=False)
        is None
    )
