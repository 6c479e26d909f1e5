"""Every combination that works does what ``tests/combinations.py`` promises, through the
operator's pure decision: a good version promoted, a bad one rolled back (when something
judges it), and at every stage traffic where the weights say - measured by who would answer
client requests and who gets the copies, from the objects the operator wrote."""

from __future__ import annotations

from typing import Any

import pytest

from canaria_operator.analysis import Verdict
from tests.combinations import (
    COMBINATIONS,
    MAX_REPLICAS,
    MIN_REPLICAS,
    REPLICAS,
    ROUTE,
    STEPS,
    Combination,
    Refused,
    Works,
    expected,
    spec,
)
from tests.operator.cluster_sim import FakeCluster, route_for

WORKING = [(c, w) for c in COMBINATIONS if isinstance(w := expected(c), Works)]


def _cluster(c: Combination) -> FakeCluster:
    route = None
    if c.traffic == "GatewayAPI":
        route = route_for("iris")
        route["metadata"]["name"] = ROUTE
    cluster = FakeCluster(spec(c), route=route)
    cluster.reconcile()  # writes the objects; the next one sees their pods Ready
    cluster.reconcile(advance=1)
    assert cluster.status["phase"] == "Ready", cluster.status
    assert cluster.answers() == {"v1": 1.0}
    return cluster


def _replica_share(total: int, weight: int) -> float:
    """What pods can do at ``weight`` percent of ``total``: at least one canary pod, one
    stable pod, otherwise the nearest whole pod above."""
    canary = min(max(-(-total * weight // 100), 1), max(total - 1, 1))
    return canary / (canary + max(total - canary, 1))


def _check_traffic(c: Combination, w: Works, cluster: FakeCluster, stage: str) -> None:
    rollout = cluster.status["rollout"]
    answers, (mirrored, percent) = cluster.answers(), cluster.mirror()
    if stage in ("WaitingForCanary", "Shadow", "Preview"):
        assert answers == {"v1": 1.0}, f"{stage}: the canary answered clients: {answers}"
    if stage in ("Shadow", "Preview"):
        want = ("v2", w.mirror_percent) if w.mirror_percent else (None, 0)
        assert (mirrored, percent) == want
    if stage == "Steps":
        weight = rollout["canaryWeight"]
        assert weight in STEPS
        assert (mirrored, percent) == (None, 0)
        share = answers.get("v2", 0.0)
        if c.traffic == "Replicas":
            total = MIN_REPLICAS if c.autoscaled else REPLICAS
            assert share == pytest.approx(_replica_share(total, weight))
            assert abs(share - weight / 100) <= 1 / total
        else:
            assert share == pytest.approx(weight / 100)
        assert set(answers) == {"v1", "v2"}
    if w.pod_share_follows_weight and stage == "Steps":
        hpa = cluster.objects[("HorizontalPodAutoscaler", "iris-v2")]["spec"]
        stable = cluster.objects[("HorizontalPodAutoscaler", "iris-v1")]["spec"]
        weight = rollout["canaryWeight"]
        for key, total in (("minReplicas", MIN_REPLICAS), ("maxReplicas", MAX_REPLICAS)):
            assert hpa[key] + stable[key] == total
            assert hpa[key] / total == pytest.approx(_replica_share(total, weight))


def _rollout(c: Combination, w: Works, verdict: Verdict) -> tuple[FakeCluster, list[str]]:
    cluster = _cluster(c)
    cluster.release("v2")
    seen: list[str] = []
    for _ in range(100):
        cluster.reconcile(verdict, advance=10)
        rollout = cluster.status["rollout"]
        if rollout["phase"] != "Progressing":
            break
        stage = rollout["stage"]
        if not seen or seen[-1] != stage:
            seen.append(stage)
        _check_traffic(c, w, cluster, stage)
    return cluster, [s for s in seen if s != "WaitingForCanary"]


@pytest.mark.parametrize(("c", "w"), WORKING, ids=[c.id for c, _ in WORKING])
def test_a_good_version_is_promoted_through_the_promised_stages(c: Combination, w: Works) -> None:
    cluster, stages = _rollout(c, w, Verdict.SUCCESSFUL)
    status = cluster.status
    if c.strategy == "Immediate":
        assert (status["history"][-1]["version"], status["history"][-1]["result"]) == (
            "v2",
            "Replaced",
        )
    else:
        assert status["history"][-1]["result"] == "Promoted", status["rollout"]
        assert tuple(stages) == w.stages
    assert status["stable"]["version"] == "v2"
    assert cluster.answers() == {"v2": 1.0}
    # exactly the promised checks ran, stage by stage, and none where nothing judges
    for stage, checks in cluster.rounds:
        assert checks == w.judged[stage], stage
    assert {stage for stage, _ in cluster.rounds} == set(w.judged)
    if not w.judged and c.strategy != "Immediate":
        reasons = {o.status.rollout.reason for o in cluster.outcomes if o.status.rollout}
        assert "NotJudged" in reasons  # said so in status while it advanced on time
    if c.extra == "sticky":
        router = cluster.objects[("Deployment", "iris-router")]
        args = router["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--sticky-header") + 1] == "x-user-id"


@pytest.mark.parametrize(("c", "w"), WORKING, ids=[c.id for c, _ in WORKING])
def test_a_bad_version_is_rolled_back_when_something_judges_it(c: Combination, w: Works) -> None:
    cluster, stages = _rollout(c, w, Verdict.FAILED)
    status = cluster.status
    if c.strategy == "Immediate":
        return  # no analysis: replaced in place by definition (covered above)
    if w.rolls_back_bad:
        assert status["rollout"]["phase"] == "RolledBack", status["rollout"]
        assert status["rollout"]["reason"] == "AnalysisFailed"
        assert stages == [w.stages[0]]  # rolled back in the first judged stage
        assert cluster.answers() == {"v1": 1.0}
        assert cluster.mirror() == (None, 0)
    else:
        # nothing judges it: advanced on its steps and pauses alone (stated in status)
        assert status["history"][-1]["result"] == "Promoted"


def test_the_table_covers_every_dimension_and_both_outcomes() -> None:
    refused = [c for c in COMBINATIONS if isinstance(expected(c), Refused)]
    assert len(COMBINATIONS) == 4 * 3 * 2 * 4 * 4
    assert refused
    assert len(WORKING) + len(refused) == len(COMBINATIONS)
    works: Any = {c.traffic for c, w in WORKING if w.mirror_percent}
    assert works == {"Builtin", "GatewayAPI"}  # both mirror; Replicas never does
