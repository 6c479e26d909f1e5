"""A pure stand-in for the API server and the kubelet, to drive the operator's decision.

``FakeCluster`` holds the ModelDeployment (CRD defaults applied), the objects the Outcomes
wrote, pods for each serving Deployment (as many as its replicas, or its HPA's minimum;
Ready unless the test says otherwise) and the HTTPRoute; ``reconcile()`` observes it into a
Snapshot, runs the analysis round when one is due (every planned check gets the verdict the
test gives), calls ``decide`` and applies the Outcome. ``answers()`` says who would answer
client requests, from the objects as the traffic mode left them: the router's own routing
table (Builtin), the model Service's selector over Ready pods (Replicas), the HTTPRoute's
backendRefs and the track Services (GatewayAPI); ``mirror()`` says who gets the copies.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from canaria_operator.analysis import CheckResult, Verdict
from canaria_operator.api import ModelDeployment
from canaria_operator.reconcile import Outcome, Snapshot, decide
from canaria_operator.reconcile.analyze import due_round
from canaria_operator.router.kube_source import build_table
from canaria_operator.settings import OperatorSettings
from canaria_operator.traffic import RouteRead
from canaria_serving import contract
from tests.operator.helpers import md_body

Json = dict[str, Any]
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SETTINGS = OperatorSettings(router_replicas=1)
PORT = contract.SERVING_PORT

__all__ = ["PORT", "SETTINGS", "T0", "FakeCluster", "apply_merge_patch", "route_for"]


def route_for(name: str) -> Json:
    """An HTTPRoute wired to ``<name>-stable`` as the examples write it."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": f"{name}-route", "namespace": "ml"},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [{"backendRefs": [{"name": f"{name}-stable", "port": PORT}]}],
        },
    }


def _labels(obj: Json) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def _pod(name: str, labels: Json, ip: str, unready: str | None) -> Json:
    status: Json = {
        "podIP": ip,
        "conditions": [{"type": "Ready", "status": "False" if unready else "True"}],
    }
    if unready:
        waiting = {"reason": "CrashLoopBackOff", "message": unready}
        status["containerStatuses"] = [{"name": "serve", "state": {"waiting": waiting}}]
    return {"metadata": {"name": name, "labels": dict(labels)}, "status": status}


def _matches(selector: Json, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class FakeCluster:
    def __init__(
        self,
        spec: Json,
        *,
        name: str = "iris",
        route: Json | None = None,
        settings: OperatorSettings = SETTINGS,
    ) -> None:
        self.body = md_body(spec, name=name)
        self.objects: dict[tuple[str, str], Json] = {}
        self.route = copy.deepcopy(route)
        self.settings = settings
        self.now = T0
        self.unready: dict[str, str] = {}  # version -> why its pods are not Ready
        self.outcomes: list[Outcome] = []
        self.rounds: list[tuple[str, tuple[str, ...]]] = []  # (stage, checks) of each round

    # --- the user ---------------------------------------------------------------------------

    @property
    def md(self) -> ModelDeployment:
        return ModelDeployment.parse(self.body)

    @property
    def status(self) -> Json:
        return dict(self.body.get("status") or {})

    def release(self, version: str) -> None:
        model = self.body["spec"]["model"]
        model["version"] = version
        model["uri"] = model["uri"].rsplit("/", 1)[0] + f"/{version}.onnx"

    def annotate(self, action: str) -> None:
        self.body["metadata"].setdefault("annotations", {})[contract.ANNOTATION_ACTION] = action

    # --- the kubelet ------------------------------------------------------------------------

    def _replicas(self, dep: Json) -> int:
        hpa = self.objects.get(("HorizontalPodAutoscaler", dep["metadata"]["name"]))
        if hpa is not None:
            return int(hpa["spec"]["minReplicas"])
        return int(dep["spec"].get("replicas", 1))

    def pods(self) -> list[Json]:
        """Pods of every serving Deployment (Ready unless its version is unready)."""
        out: list[Json] = []
        for (kind, name), dep in sorted(self.objects.items()):
            if kind != "Deployment" or _labels(dep).get(contract.LABEL_COMPONENT) != "serving":
                continue
            labels = dep["spec"]["template"]["metadata"]["labels"]
            why = self.unready.get(labels[contract.LABEL_VERSION])
            for i in range(self._replicas(dep)):
                ip = f"10.0.{len(out) // 200}.{len(out) % 200 + 1}"
                out.append(_pod(f"{name}-{i}", labels, ip, why))
        return out

    # --- the operator -----------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        md = self.md
        by_version: dict[str, list[Json]] = {}
        for pod in self.pods():
            by_version.setdefault(_labels(pod)[contract.LABEL_VERSION], []).append(pod)
        snap = Snapshot.of(md, objects=copy.deepcopy(self.objects), pods=by_version)
        ref = snap.mode.route_ref()
        if ref is not None:
            route = copy.deepcopy(self.route) if self.route is not None else None
            snap = Snapshot(
                snap.md, snap.inputs, snap.objects, snap.pods, route=RouteRead(ref, route)
            )
        return snap

    def reconcile(
        self,
        verdict: Verdict | Callable[[str], Verdict] | None = None,
        advance: float = 0.0,
    ) -> Outcome:
        """One reconcile ``advance`` seconds later; a due round's checks get ``verdict``
        (or ``verdict(check name)``); no verdict: the round is not run."""
        self.now += timedelta(seconds=advance)
        snap = self.snapshot()
        due = due_round(snap, self.now)
        checks: list[CheckResult] = []
        if due is not None and verdict is not None:
            stage = str((self.status.get("rollout") or {}).get("stage"))
            self.rounds.append((stage, due.checks))
            for name in due.checks:
                v = verdict(name) if callable(verdict) else verdict
                checks.append(CheckResult(metric=name, verdict=v, at=self.now, message=v.value))
        outcome = decide(snap, checks, self.now, self.settings)
        self.apply(outcome)
        self.outcomes.append(outcome)
        return outcome

    def apply(self, outcome: Outcome) -> None:
        for w in outcome.writes:
            if w.op == "delete":
                self.objects.pop(w.key, None)
                continue
            have = copy.deepcopy(w.obj)
            if have["kind"] == "Deployment":
                n = have["spec"].get("replicas", 1)
                have["metadata"]["generation"] = 1
                have["status"] = {"observedGeneration": 1, "replicas": n, "updatedReplicas": n}
                have["status"]["readyReplicas"] = n  # the kubelet: every pod Ready
            self.objects[w.key] = have
        if outcome.route is not None:
            assert self.route is not None
            self.route = apply_merge_patch(self.route, outcome.route.patch)
        self.body["status"] = outcome.status.to_json()
        if outcome.clear_action:
            self.body["metadata"].get("annotations", {}).pop(contract.ANNOTATION_ACTION, None)

    def settle(self, verdict: Verdict | None = None, rounds: int = 1, limit: int = 200) -> None:
        """Reconcile (a quarter interval apart) until ``rounds`` rounds ran or the rollout
        stopped progressing."""
        spec = self.snapshot().inputs.spec
        step = spec.analysis_interval.total_seconds() / 4
        ran = len(self.rounds)
        for _ in range(limit):
            self.reconcile(verdict, advance=step)
            rollout = self.status.get("rollout") or {}
            if len(self.rounds) - ran >= rounds or rollout.get("phase") != "Progressing":
                return
        raise AssertionError(f"no progress in {limit} reconciles: {self.status.get('rollout')}")

    # --- who answers ------------------------------------------------------------------------

    def answers(self) -> dict[str, float]:
        """Share of client requests each version would answer now."""
        mode = self.md.spec.rollout.traffic.router
        if mode == "Builtin":
            return self._builtin()
        if mode == "Replicas":
            return self._by_pods(self.objects[("Service", self.md.name)]["spec"]["selector"])
        return self._gateway()

    def mirror(self) -> tuple[str | None, int]:
        """Who receives copies of client requests, and what percentage of them."""
        mode = self.md.spec.rollout.traffic.router
        if mode == "Builtin":
            table = build_table(self.pods(), self.body, PORT)
            versions = {self._version_of(b.host) for b in table.canary}
            if table.mirror_percent and versions:
                (version,) = versions
                return version, table.mirror_percent
        if mode == "GatewayAPI" and self.route is not None:
            for rule in self.route["spec"]["rules"]:
                for f in rule.get("filters") or []:
                    if f.get("type") == "RequestMirror":
                        ref = f["requestMirror"]["backendRef"]
                        shares = self._by_service(ref["name"])
                        (version,) = shares
                        return version, int(f["requestMirror"].get("percent", 100))
        return None, 0

    def _version_of(self, ip: str) -> str:
        pod = next(p for p in self.pods() if p["status"]["podIP"] == ip)
        return _labels(pod)[contract.LABEL_VERSION]

    def _builtin(self) -> dict[str, float]:
        """The router's own table: the canary gets its weight, the stable the rest; a track
        without Ready backends hands its share to the other (as the router does)."""
        table = build_table(self.pods(), self.body, PORT)
        canary = table.canary_weight / 100 if table.canary else 0.0
        stable = 1 - canary if table.stable else 0.0
        if not table.stable and table.canary:
            canary = 1.0
        shares: dict[str, float] = {}
        for backends, share in ((table.stable, stable), (table.canary, canary)):
            for b in backends:
                v = self._version_of(b.host)
                shares[v] = shares.get(v, 0.0) + share / len(backends)
        return {v: s for v, s in shares.items() if s > 0}

    def _by_pods(self, selector: Json) -> dict[str, float]:
        ready = [
            p
            for p in self.pods()
            if _matches(selector, _labels(p)) and p["status"]["conditions"][0]["status"] == "True"
        ]
        shares: dict[str, float] = {}
        for p in ready:
            v = _labels(p)[contract.LABEL_VERSION]
            shares[v] = shares.get(v, 0.0) + 1 / len(ready)
        return shares

    def _by_service(self, name: str) -> dict[str, float]:
        svc = self.objects.get(("Service", name))
        return {} if svc is None else self._by_pods(svc["spec"]["selector"])

    def _gateway(self) -> dict[str, float]:
        assert self.route is not None
        (rule,) = self.route["spec"]["rules"]
        refs = [r for r in rule["backendRefs"] if r.get("weight", 1) > 0]
        total = sum(r.get("weight", 1) for r in refs)
        shares: dict[str, float] = {}
        for r in refs:
            for v, s in self._by_service(r["name"]).items():
                shares[v] = shares.get(v, 0.0) + s * r.get("weight", 1) / total
        return shares


def apply_merge_patch(doc: Json, patch: Json) -> Json:
    """Apply a JSON merge patch (RFC 7386)."""
    out = copy.deepcopy(doc)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = apply_merge_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
