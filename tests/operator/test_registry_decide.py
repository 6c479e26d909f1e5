"""The registry in the pure decision, with a simulated cluster: a ModelDeployment that follows
``models:/iris@champion`` serves what the alias names, rolls out when it moves, holds while the
registry cannot be read, names every problem, writes its verdicts back once, and retires."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from canaria_operator.analysis import Verdict
from canaria_operator.reconcile import Outcome, Snapshot
from canaria_operator.reconcile.registry import RegistryWrite, mark_written
from canaria_operator.registry.read import RegistryRead, Resolved
from canaria_serving import contract
from tests.operator.cluster_sim import FakeCluster

TRACKING = "http://mlflow.local:5000"
LOCATION = "mlflow+http://mlflow.local:5000/api/2.0/mlflow-artifacts/artifacts/0/models/m-{v}"


def _resolved(version: str) -> RegistryRead:
    digest = version * 64 if len(version) == 1 else "a" * 64
    return RegistryRead(Resolved("iris", version, LOCATION.format(v=version), digest[:64], 3))


def _spec(**extra: Any) -> dict[str, Any]:
    return {
        "model": {
            "uri": "models:/iris@champion",
            "registry": {
                "trackingUri": TRACKING,
                "credentialsSecretRef": {"name": "mlflow"},
                "pollInterval": "1m",
                "stableAlias": "canaria-stable",
            },
        },
        "serving": {"replicas": 2},
        "rollout": {"steps": [{"weight": 20}, {"weight": 50}], "analysisInterval": "30s"},
        **extra,
    }


class RegistryCluster(FakeCluster):
    """The simulated cluster plus what the registry answers and what was written to it."""

    def __init__(self, **extra: Any) -> None:
        super().__init__(_spec(**extra))
        self.read: RegistryRead = _resolved("1")
        self.told: list[RegistryWrite] = []
        self.registry_up = True

    def snapshot(self) -> Snapshot:
        snap = super().snapshot()
        return Snapshot(
            snap.md, snap.inputs, snap.objects, snap.pods, route=snap.route, registry=self.read
        )

    def apply(self, outcome: Outcome) -> None:
        done = list(outcome.registry_writes) if self.registry_up else []
        self.told += done
        status = mark_written(outcome.status, done)
        super().apply(type(outcome)(**{**outcome.__dict__, "status": status}))


def _deployment(cluster: FakeCluster, version: str) -> dict[str, Any]:
    return cluster.objects[("Deployment", f"iris-{version}")]


def _ready_on_v1() -> RegistryCluster:
    cluster = RegistryCluster()
    cluster.reconcile()
    cluster.reconcile(advance=1)
    return cluster


def test_the_alias_names_what_serves_and_the_digest_is_pinned() -> None:
    cluster = _ready_on_v1()
    status = cluster.status
    assert status["phase"] == "Ready"
    assert status["stable"]["version"] == "1"
    assert status["stable"]["source"] == "models:/iris/1"
    reg = status["registry"]
    assert (reg["model"], reg["alias"], reg["version"]) == ("iris", "champion", "1")
    assert reg["pins"] == [{"version": "1", "digest": "1" * 64}]
    assert reg["stableAliasVersion"] == "1"
    pod = _deployment(cluster, "1")["spec"]["template"]["spec"]
    fetch = pod["initContainers"][0]
    assert fetch["args"] == [
        "fetch", LOCATION.format(v="1"), "--dest", "/models/model", "--sha256", "1" * 64,
    ]  # fmt: skip
    assert fetch["envFrom"] == [{"secretRef": {"name": "mlflow"}}]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env[contract.ENV_MODEL_PATH] == "/models/model/model.onnx"
    assert env[contract.ENV_MODEL_VERSION] == "1"
    assert [(w.version, w.alias) for w in cluster.told] == [("1", "canaria-stable")]
    assert cluster.outcomes[-1].requeue_after == 60.0


def test_alias_moved_rolls_out_promotes_and_tags_once() -> None:
    cluster = _ready_on_v1()
    cluster.read = _resolved("2")
    cluster.reconcile(advance=1)
    assert cluster.status["canary"]["version"] == "2"
    cluster.settle(Verdict.SUCCESSFUL, rounds=10)
    status = cluster.status
    assert status["stable"]["version"] == "2"
    entry = status["history"][-1]
    assert (entry["version"], entry["result"], entry["source"]) == (
        "2",
        "Promoted",
        "models:/iris/2",
    )
    assert entry["checks"]
    tags = [dict(w.tags) for w in cluster.told if w.tags]
    assert [t["canaria.dev/verdict"] for t in tags] == ["promoted"]
    assert tags[0]["canaria.dev/modeldeployment"] == "ml/iris"
    assert [w.version for w in cluster.told if w.alias] == ["1", "2"]
    before = len(cluster.told)
    cluster.reconcile(advance=5)
    cluster.reconcile(advance=5)
    assert len(cluster.told) == before  # written once


def test_failed_canary_is_tagged_rolled_back_and_the_stable_alias_stays() -> None:
    cluster = _ready_on_v1()
    cluster.read = _resolved("2")
    cluster.reconcile(advance=1)
    cluster.settle(Verdict.FAILED, rounds=10)
    assert cluster.status["history"][-1]["result"] == "RolledBack"
    verdicts = [dict(w.tags)["canaria.dev/verdict"] for w in cluster.told if w.tags]
    assert verdicts == ["rolled-back"]
    assert cluster.status["registry"]["stableAliasVersion"] == "1"


def test_registry_unreadable_mid_rollout_never_promotes_and_keeps_serving() -> None:
    cluster = _ready_on_v1()
    cluster.read = _resolved("2")
    cluster.reconcile(advance=1)
    cluster.read = RegistryRead.failed("RegistryUnreachable", "models:/iris@champion: timeout")
    cluster.registry_up = False
    cluster.settle(Verdict.SUCCESSFUL, rounds=1)
    # one failed read: the round is held, but one slow answer is no Degraded condition
    held = cluster.status
    assert held["analysis"][-1]["metric"] == "registry"
    assert next(c for c in held["conditions"] if c["type"] == "Degraded")["status"] == "False"
    cluster.read = RegistryRead.failed("RegistryUnreachable", "models:/iris@champion: timeout", 2)
    for _ in range(12):
        cluster.reconcile(Verdict.SUCCESSFUL, advance=10)
    status = cluster.status
    assert status["stable"]["version"] == "1"
    assert status["canary"]["version"] == "2"
    registry_check = next(a for a in status["analysis"] if a["metric"] == "registry")
    assert registry_check["verdict"] == "Inconclusive"
    degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "RegistryUnreachable"
    assert "keeping the last resolved models:/iris/2" in degraded["message"]
    assert ("Deployment", "iris-1") in cluster.objects
    cluster.read, cluster.registry_up = _resolved("2"), True
    cluster.settle(Verdict.SUCCESSFUL, rounds=10)
    assert cluster.status["stable"]["version"] == "2"


def test_alias_moved_back_during_the_rollout_aborts_it() -> None:
    cluster = _ready_on_v1()
    cluster.read = _resolved("2")
    cluster.reconcile(advance=1)
    cluster.settle(Verdict.SUCCESSFUL, rounds=1)
    cluster.read = _resolved("1")
    cluster.reconcile(advance=1)
    status = cluster.status
    assert status["history"][-1]["result"] == "RolledBack"
    assert status["stable"]["version"] == "1"
    assert status["rollout"]["canaryWeight"] == 0


def test_never_resolved_writes_nothing_and_names_the_problem() -> None:
    cluster = RegistryCluster()
    cluster.read = RegistryRead.failed("RegistryModelNotFound", "models:/iris@champion: no alias")
    outcome = cluster.reconcile()
    assert outcome.writes == ()
    degraded = next(c for c in cluster.status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "RegistryModelNotFound"
    assert "no alias" in degraded["message"]
    assert cluster.status["phase"] == "Degraded"


def test_changed_bytes_are_refused_and_the_pinned_version_keeps_serving() -> None:
    cluster = _ready_on_v1()
    cluster.read = RegistryRead.failed("RegistryArtifactChanged", "models:/iris/1 changed")
    outcome = cluster.reconcile(advance=1)
    assert outcome.writes == ()
    degraded = next(c for c in cluster.status["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "RegistryArtifactChanged"
    assert "keeping the last resolved models:/iris/1" in degraded["message"]
    assert cluster.status["registry"]["digest"] == "1" * 64


def test_retirement_notice_then_zero_and_tagged() -> None:
    cluster = _ready_on_v1()
    at = cluster.now + timedelta(minutes=10)
    cluster.body["spec"]["retire"] = {"at": at.isoformat(), "reason": "replaced"}
    outcome = cluster.reconcile(advance=1)
    assert outcome.requeue_after is not None
    env = {
        e["name"]: e["value"]
        for e in _deployment(cluster, "1")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env[contract.ENV_SUNSET] == at.isoformat()
    deprecated = env[contract.ENV_DEPRECATED_AT]
    cluster.reconcile(advance=30)
    env2 = {
        e["name"]: e["value"]
        for e in _deployment(cluster, "1")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env2[contract.ENV_DEPRECATED_AT] == deprecated  # no new pods on each reconcile
    assert cluster.status["phase"] == "Ready"
    cluster.reconcile(advance=600)
    status = cluster.status
    assert status["phase"] == "Retired"
    assert status["retirement"]["retiredAt"]
    deployments = [o for k, o in cluster.objects.items() if k[0] == "Deployment"]
    assert deployments
    assert all(d["spec"]["replicas"] == 0 for d in deployments)
    retired = [dict(w.tags) for w in cluster.told if w.key.startswith("retired:")]
    assert retired == [
        {
            "canaria.dev/verdict": "retired",
            "canaria.dev/reason": "replaced",
            "canaria.dev/modeldeployment": "ml/iris",
            "canaria.dev/at": retired[0]["canaria.dev/at"],
        }
    ]
    del cluster.body["spec"]["retire"]
    cluster.reconcile(advance=1)
    assert cluster.status["phase"] != "Retired"
    assert _deployment(cluster, "1")["spec"]["replicas"] == 2
