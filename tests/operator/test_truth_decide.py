"""Ground truth through the whole decision (FakeCluster): the feedback Service and pod
settings, the acceptance Job (what it runs, that it meets the Restricted standard, how long
it stays), status.acceptance with per-class figures, status.webhooks, and ground-truth
checks in the planned rounds."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from canaria_operator.analysis import Verdict
from canaria_operator.reconcile import Snapshot
from canaria_operator.reconcile.truth import acceptance_read
from canaria_operator.rollout import HookAnswer, HookType
from canaria_serving import contract
from tests.operator.cluster_sim import FakeCluster
from tests.operator.helpers import SHA

Json = dict[str, Any]
DATASET = "https://data.local/iris-test.csv"
RESULT = {
    "task": "classification",
    "rows": 30,
    "canary": {"version": "v2", "rows": 30, "failed": 0, "accuracy": 0.9},
    "stable": {"version": "v1", "rows": 30, "failed": 0, "accuracy": 0.97},
    "classes": [
        {"label": "0", "support": 10, "accuracy": 1.0, "stable": 1.0},
        {"label": "1", "support": 10, "accuracy": 0.7, "stable": 0.9},
    ],
}


def _spec(**rollout: Any) -> Json:
    return {
        "model": {"uri": "https://m.local/v1.onnx", "version": "v1", "sha256": SHA},
        "serving": {"replicas": 1, "feedback": {"retention": "2m", "maxPredictions": 5000}},
        "rollout": {
            "steps": [{"weight": 20}, {"weight": 50}],
            "analysisInterval": "10s",
            "scaleDownDelay": "30s",
            **rollout,
        },
    }


class TruthCluster(FakeCluster):
    """A FakeCluster whose acceptance Job runs (its pod is made up by the test) and whose
    hooks answer what the test says."""

    def __init__(self, spec: Json) -> None:
        super().__init__(spec)
        self.job_pods: list[Json] = []
        self.answers: tuple[HookAnswer, ...] = ()

    def snapshot(self) -> Snapshot:
        snap = super().snapshot()
        read = acceptance_read(snap.md, snap.objects, self.job_pods)
        return replace(snap, acceptance=read, hooks=self.answers)

    def finish_job(self, message: str, *, failed: bool = False) -> None:
        (key,) = [k for k in self.objects if k[0] == "Job"]
        kind = "Failed" if failed else "Complete"
        self.objects[key]["status"] = {"conditions": [{"type": kind, "status": "True"}]}
        terminated = {"exitCode": 1 if failed else 0, "message": message}
        self.job_pods = [
            {
                "status": {
                    "containerStatuses": [{"name": "evaluate", "state": {"terminated": terminated}}]
                }
            }
        ]


def _job(cluster: FakeCluster) -> Json:
    (job,) = [o for (kind, _), o in cluster.objects.items() if kind == "Job"]
    return job


def test_feedback_gets_a_headless_service_of_every_serving_pod_and_pod_settings() -> None:
    cluster = FakeCluster(_spec())
    cluster.reconcile()
    svc = cluster.objects[("Service", "iris-feedback")]
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == {
        contract.LABEL_MODEL: "iris",
        contract.LABEL_COMPONENT: "serving",
    }
    env = {
        e["name"]: e["value"]
        for e in cluster.objects[("Deployment", "iris-v1")]["spec"]["template"]["spec"][
            "containers"
        ][0]["env"]
    }
    assert env[contract.ENV_FEEDBACK_RETENTION_S] == "120.0"
    assert env[contract.ENV_FEEDBACK_MAX_PREDICTIONS] == "5000"
    assert env[contract.ENV_FEEDBACK_PEERS] == "iris-feedback"
    cluster.body["spec"]["serving"].pop("feedback")
    o = cluster.reconcile(advance=1)
    assert ("delete", "Service", "iris-feedback") in [(w.op, *w.key) for w in o.writes]


def _accepting(threshold: Json) -> TruthCluster:
    acceptance = {"dataset": {"uri": DATASET, "labelColumn": "species"}, **threshold}
    cluster = TruthCluster(_spec(acceptance=acceptance))
    cluster.reconcile()
    cluster.reconcile(advance=1)
    cluster.release("v2")
    cluster.reconcile(advance=1)  # canary Deployment; its pods are Ready at once here
    cluster.reconcile(advance=1)  # -> acceptance gate, the Job
    return cluster


def test_the_acceptance_job_is_written_when_the_canary_is_ready() -> None:
    cluster = _accepting({"minAccuracy": 0.8})
    status = cluster.status
    assert status["rollout"]["gate"] == "Acceptance"
    assert status["canary"]["weight"] == 0
    assert status["acceptance"]["verdict"] == "Running"
    job = _job(cluster)
    name = job["metadata"]["name"]
    assert name == f"iris-acceptance-{status['rollout']['acceptanceAttempt']}"
    assert status["acceptance"]["job"] == name
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 300)
    pod = spec["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in [*pod["initContainers"], *pod["containers"]]:
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"] == {"drop": ["ALL"]}
    (fetch,) = pod["initContainers"]
    assert fetch["args"] == ["fetch", DATASET, "--dest", "/data/dataset.csv"]
    (evaluate,) = pod["containers"]
    assert evaluate["args"][:5] == [
        "evaluate",
        "http://iris-canary:8080/v2/models/iris",
        "/data/dataset.csv",
        "--baseline",
        "http://iris-stable:8080/v2/models/iris",
    ]
    assert "--label-column" in evaluate["args"]
    assert "species" in evaluate["args"]
    o = cluster.reconcile(advance=5)  # running: nothing rewritten, looked at again in 5 s
    assert not [w for w in o.writes if w.key[0] == "Job"]
    assert o.requeue_after == 5


def test_a_passed_acceptance_shows_its_figures_and_opens_the_first_step() -> None:
    cluster = _accepting({"minAccuracy": 0.8})
    cluster.finish_job(json.dumps(RESULT))
    o = cluster.reconcile(advance=5)
    status = cluster.status
    assert status["acceptance"]["verdict"] == "Passed"
    assert status["acceptance"]["accuracy"] == 0.9
    assert status["acceptance"]["stableAccuracy"] == 0.97
    assert status["acceptance"]["classes"][1] == {
        "label": "1",
        "support": 10,
        "accuracy": 0.7,
        "stableAccuracy": 0.9,
    }
    assert status["canary"]["weight"] == 20
    assert ("Normal", "AcceptancePassed") in [(e.type, e.reason) for e in o.events]
    assert [k for k in cluster.objects if k[0] == "Job"], "kept while the rollout runs"


def test_a_failed_acceptance_rolls_back_and_the_job_goes_with_the_canary() -> None:
    cluster = _accepting({"maxDropVsStable": 0.02})
    cluster.finish_job(json.dumps(RESULT))
    o = cluster.reconcile(advance=5)
    status = cluster.status
    assert status["phase"] == "RolledBack"
    assert status["rollout"]["reason"] == "AcceptanceFailed"
    assert "7.00% below the stable's" in status["rollout"]["message"]
    assert status["acceptance"]["verdict"] == "Failed"
    warnings = [e.message for e in o.events if e.reason == "AcceptanceFailed"]
    assert warnings
    assert "1 70%/90%" in warnings[0]  # per class in the Event
    assert [k for k in cluster.objects if k[0] == "Job"]
    for _ in range(8):
        cluster.reconcile(advance=5)
    assert not [k for k in cluster.objects if k[0] == "Job"], "deleted with the warm canary"


def test_an_acceptance_job_that_fails_to_run_is_an_error() -> None:
    cluster = _accepting({"minAccuracy": 0.8})
    cluster.finish_job('{"error": "canaria evaluate: no label column \'species\'"}', failed=True)
    cluster.reconcile(advance=5)
    status = cluster.status
    assert status["rollout"]["reason"] == "AcceptanceError"
    assert "no label column" in status["acceptance"]["message"]
    assert status["acceptance"]["verdict"] == "Error"


def test_hook_answers_land_in_status_webhooks() -> None:
    hooks = [
        {"name": "gate", "type": "confirm-promotion", "url": "http://h.local/confirm"},
        {"name": "note", "type": "post-rollout", "url": "http://h.local/note"},
    ]
    cluster = TruthCluster(_spec(webhooks=hooks))
    cluster.reconcile()
    at = cluster.now + timedelta(seconds=1)
    cluster.answers = (
        HookAnswer(
            name="gate",
            type=HookType.CONFIRM_PROMOTION,
            passed=False,
            at=at,
            code=503,
            message="not yet",
        ),
    )
    cluster.reconcile(advance=1)
    (answer,) = cluster.status["webhooks"]
    assert answer == {
        "name": "gate",
        "type": "confirm-promotion",
        "passed": False,
        "code": 503,
        "message": "not yet",
        "at": "2026-01-01T12:00:01Z",
    }
    cluster.body["spec"]["rollout"]["webhooks"] = hooks[1:]
    cluster.answers = ()
    cluster.reconcile(advance=1)
    assert cluster.status["webhooks"] == []  # a hook removed from spec leaves status


def test_accuracy_is_judged_on_every_stage_with_traffic() -> None:
    metrics = {"accuracy": {"minLabels": 50}}
    cluster = FakeCluster(_spec(strategy="Shadow", analysis={"metrics": metrics}))
    cluster.reconcile()
    cluster.reconcile(advance=1)
    cluster.release("v2")
    cluster.settle(Verdict.SUCCESSFUL, rounds=3)
    assert [checks for _, checks in cluster.rounds] == [("accuracy",)] * 3
    assert [stage for stage, _ in cluster.rounds][:2] == ["Shadow", "Steps"]


def test_status_stays_compact_without_ground_truth() -> None:
    spec = copy.deepcopy(_spec())
    spec["serving"].pop("feedback")
    cluster = FakeCluster(spec)
    cluster.reconcile()
    assert "acceptance" not in cluster.status
    assert ("Service", "iris-feedback") not in cluster.objects
