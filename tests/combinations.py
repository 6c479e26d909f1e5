"""Every configuration a user can write, and what it must do: the combination table.

Dimensions (see ``DIMENSIONS``): strategy x traffic mode x autoscaling x sticky/mirror x
checks. For each :class:`Combination`, :func:`expected` says either

* :class:`Refused` - the API server rejects the ModelDeployment at admission (CEL), with a
  message naming each field in ``fields`` and containing its words; or
* :class:`Works` - what a rollout of it promises: the stages it goes through, which of them
  checks judge (and with which checks), whether the canary gets a copy of traffic before it
  takes any (and which percentage), and whether a bad version is rolled back (only when some
  stage is judged; without checks a rollout advances on its steps and pauses alone and says
  so in status, reason ``NotJudged``).

The rules below are the specification written down once, independently of the operator's
code; the tests compare the operator against them:

* ``tests/operator/test_combinations.py`` drives the pure decision through a good and a bad
  rollout of every combination that works and checks the traffic at each stage (who would
  answer client requests, who gets the copies);
* ``tests/operator_cluster/test_combinations_admission.py`` sends every combination to the
  real API server (dry run) and checks refused <=> rejected with the message.

To reuse it (e.g. on a cluster with a real kubelet): ``for c in COMBINATIONS:
manifest(c, name, "v2")`` and ``expected(c)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "CHECK_NAMES",
    "COMBINATIONS",
    "DIMENSIONS",
    "STEPS",
    "Combination",
    "Refused",
    "Works",
    "expected",
    "manifest",
    "spec",
]

Strategy = Literal["Canary", "BlueGreen", "Shadow", "Immediate"]
Mode = Literal["Builtin", "Replicas", "GatewayAPI"]
Extra = Literal["plain", "sticky", "mirror-50", "mirror-0"]
Checks = Literal["default", "none", "custom", "shadow"]

DIMENSIONS: dict[str, tuple[str, ...]] = {
    "strategy": ("Canary", "BlueGreen", "Shadow", "Immediate"),
    "traffic": ("Builtin", "Replicas", "GatewayAPI"),
    "autoscaling": ("fixed", "autoscaled"),
    # sticky: stickyHeader set; mirror-50 / mirror-0: traffic.mirrorPercent 50 / 0
    "extra": ("plain", "sticky", "mirror-50", "mirror-0"),
    # default: the CRD's (error rate, p99 latency); none: metrics {} and no custom check;
    # custom: only a custom check; shadow: the defaults plus shadowAgreement
    "checks": ("default", "none", "custom", "shadow"),
}
STEPS = (10, 50)
SHA = "0" * 64
ROUTE = "model-route"  # the HTTPRoute a GatewayAPI combination names
CUSTOM = "queue-depth"
CHECK_NAMES: dict[str, tuple[str, ...]] = {
    "default": ("error-rate", "latency-p99"),
    "none": (),
    "custom": (CUSTOM,),
    "shadow": ("error-rate", "latency-p99"),  # + shadow-agreement while compared
}
REPLICAS, MIN_REPLICAS, MAX_REPLICAS = 4, 4, 8


@dataclass(frozen=True)
class Combination:
    strategy: Strategy
    traffic: Mode
    autoscaled: bool
    extra: Extra
    checks: Checks

    @property
    def id(self) -> str:
        scale = "hpa" if self.autoscaled else "fixed"
        return f"{self.strategy}-{self.traffic}-{scale}-{self.extra}-{self.checks}"


@dataclass(frozen=True)
class Refused:
    """Rejected at admission; each (field, words) appears in the API server's message."""

    reasons: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Works:
    """What a rollout of the combination promises."""

    # Stages in order (Immediate: none; the stable is replaced once the new pods are Ready).
    stages: tuple[str, ...]
    # The checks each judged stage runs (a stage absent here passes on time alone).
    judged: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Percent of client requests copied to the canary before it takes any (0: none).
    mirror_percent: int = 0
    # Pods per version come from an autoscaler whose bounds follow the weight (Replicas).
    pod_share_follows_weight: bool = False

    @property
    def rolls_back_bad(self) -> bool:
        return bool(self.judged)


def _refusals(c: Combination) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    mirroring = c.strategy in ("Shadow", "BlueGreen")
    if c.strategy == "Shadow" and c.traffic == "Replicas":
        out.append(("spec.rollout.traffic.router", "needs a router that can mirror"))
    if c.extra == "sticky" and c.traffic != "Builtin":
        out.append(("spec.rollout.traffic.stickyHeader", "stickyHeader needs router Builtin"))
    if c.checks == "shadow" and c.traffic != "Builtin":
        field_ = "spec.rollout.analysis.metrics.shadowAgreement"
        out.append((field_, "shadowAgreement needs router Builtin"))
    if c.extra == "mirror-0" and mirroring and c.traffic != "Replicas":
        out.append(("spec.rollout.traffic.mirrorPercent", "mirrorPercent must be at least 1"))
    return out


def expected(c: Combination) -> Works | Refused:
    refusals = _refusals(c)
    if refusals:
        return Refused(tuple(refusals))
    if c.strategy == "Immediate":
        return Works(stages=())
    steps = ("Steps",) if c.strategy in ("Canary", "Shadow") else ()
    first = {"Shadow": ("Shadow",), "BlueGreen": ("Preview",)}.get(c.strategy, ())
    # Only Builtin and GatewayAPI copy traffic; Replicas has no proxy to copy it with.
    mirrors = bool(first) and c.traffic != "Replicas"
    percent = {"mirror-50": 50, "mirror-0": 0}.get(c.extra, 100) if mirrors else 0
    names = CHECK_NAMES[c.checks]
    judged: dict[str, tuple[str, ...]] = {}
    if names:
        for stage in steps:
            judged[stage] = names
        if mirrors:
            # the canary's own metrics of the copies; only Canaria's router compares answers
            compared = c.checks == "shadow" and c.traffic == "Builtin"
            agreement = ("shadow-agreement",) if compared else ()
            for stage in first:
                judged[stage] = names + agreement
    return Works(
        stages=first + steps,
        judged=judged,
        mirror_percent=percent,
        pod_share_follows_weight=c.traffic == "Replicas" and c.autoscaled,
    )


def spec(c: Combination, version: str = "v1") -> dict[str, Any]:
    """``spec`` of a ModelDeployment for the combination, serving ``version``."""
    traffic: dict[str, Any] = {"router": c.traffic}
    if c.traffic == "GatewayAPI":
        traffic["httpRouteRef"] = {"name": ROUTE}
    if c.extra == "sticky":
        traffic["stickyHeader"] = "x-user-id"
    elif c.extra.startswith("mirror-"):
        traffic["mirrorPercent"] = int(c.extra.removeprefix("mirror-"))
    metrics: dict[str, Any] = {
        "default": {"errorRate": {}, "latencyP99": {"maxRatio": 1.5}},
        "none": {},
        "custom": {},
        "shadow": {"errorRate": {}, "latencyP99": {"maxRatio": 1.5}, "shadowAgreement": {}},
    }[c.checks]
    analysis: dict[str, Any] = {"minRequests": 20, "metrics": metrics}
    if c.checks == "custom":
        analysis["custom"] = [
            {"name": CUSTOM, "query": 'max(queue_depth{version="{{version}}"})', "max": 10}
        ]
    serving: dict[str, Any] = (
        {"autoscaling": {"minReplicas": MIN_REPLICAS, "maxReplicas": MAX_REPLICAS}}
        if c.autoscaled
        else {"replicas": REPLICAS}
    )
    return {
        "model": {"uri": f"https://models.local/{version}.onnx", "version": version, "sha256": SHA},
        "serving": serving,
        "rollout": {
            "strategy": c.strategy,
            "steps": [{"weight": w} for w in STEPS],
            "analysisInterval": "30s",
            "failureThreshold": 1,
            "traffic": traffic,
            "analysis": analysis,
        },
    }


def manifest(c: Combination, name: str, version: str = "v1") -> dict[str, Any]:
    return {
        "apiVersion": "canaria.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": spec(c, version),
    }


COMBINATIONS: tuple[Combination, ...] = tuple(
    Combination(strategy, traffic, scale == "autoscaled", extra, checks)  # type: ignore[arg-type]
    for strategy, traffic, scale, extra, checks in itertools.product(*DIMENSIONS.values())
)
