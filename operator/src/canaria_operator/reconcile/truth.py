"""Ground truth in a reconcile (pure): the acceptance Job as observed, the objects feedback
and acceptance need, and what status says about them.

* :func:`acceptance_read`: the acceptance Job of the current attempt and its pod ->
  :class:`~canaria_operator.rollout.model.AcceptanceRead` (running; finished with the
  evaluation's JSON from the pod's termination message; or failed, saying why).
* :func:`truth_objects`: the feedback Service while ``spec.serving.feedback`` is set; the
  acceptance Job while the rollout waits at the acceptance gate (kept, not rewritten, while
  its canary is around, so its logs can be read; deleted with it).
* :func:`truth_status`: ``status.acceptance`` from the decision's report, and
  ``status.webhooks`` with the answers of the hooks called in this reconcile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from canaria_operator.api.model import ModelDeployment
from canaria_operator.api.status import (
    AcceptanceClass,
    AcceptanceStatus,
    ModelDeploymentStatus,
    WebhookStatus,
)
from canaria_operator.reconcile.snapshot import Key, Snapshot
from canaria_operator.rollout.decision import AcceptanceReport
from canaria_operator.rollout.model import AcceptanceRead, Gate, HookAnswer, RolloutState
from canaria_operator.settings import OperatorSettings
from canaria_operator.traffic import Placement
from canaria_operator.workloads.names import acceptance_job_name
from canaria_operator.workloads.truth import acceptance_job, feedback_service

__all__ = ["acceptance_read", "truth_objects", "truth_status"]

Json = dict[str, Any]


def _condition(job: Json, kind: str) -> Json | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def _terminated(pod: Json, key: str, name: str) -> Json | None:
    for cs in (pod.get("status") or {}).get(key) or []:
        if cs.get("name") == name:
            found = (cs.get("state") or {}).get("terminated")
            return dict(found) if found else None
    return None


def acceptance_read(
    md: ModelDeployment, objects: Mapping[Key, Json], pods: Sequence[Json]
) -> AcceptanceRead | None:
    """The current acceptance attempt's Job as observed (None: no attempt in status)."""
    state = md.status.rollout
    if state is None or state.acceptance_attempt is None:
        return None
    attempt = state.acceptance_attempt
    job = objects.get(("Job", acceptance_job_name(md.name, attempt)))
    if job is None:
        return AcceptanceRead(attempt=attempt)
    done, failed = _condition(job, "Complete"), _condition(job, "Failed")
    if done is None and failed is None:
        return AcceptanceRead(attempt=attempt)
    result, why = None, []
    for pod in pods:
        evaluate = _terminated(pod, "containerStatuses", "evaluate")
        if evaluate is not None and (evaluate.get("message") or "").strip().startswith("{"):
            result = str(evaluate["message"]).strip()
        fetch = _terminated(pod, "initContainerStatuses", "fetch")
        if fetch is not None and fetch.get("exitCode"):
            why.append(f"fetching the dataset: {(fetch.get('message') or '').strip()[:500]}")
    if failed is not None:
        why.insert(0, f"Job {failed.get('reason', 'Failed')}: {failed.get('message', '')}")
    return AcceptanceRead(
        attempt=attempt, finished=True, result=result, failure="; ".join(why) or None
    )


def truth_objects(
    snap: Snapshot, state: RolloutState, placement: Placement, settings: OperatorSettings
) -> tuple[list[Json], frozenset[Key]]:
    """Objects to apply, and acceptance Jobs to leave as they are."""
    md = snap.md
    desired: list[Json] = []
    if md.spec.serving.feedback is not None:
        desired.append(feedback_service(md))
    attempt = state.acceptance_attempt
    if attempt is None or md.spec.rollout.acceptance is None:
        return desired, frozenset()
    key = ("Job", acceptance_job_name(md.name, attempt))
    if state.gate is Gate.ACCEPTANCE and key not in snap.objects:
        job = acceptance_job(
            md,
            attempt,
            image=settings.image,
            pull_policy=settings.image_pull_policy,
            pod_annotations=settings.pod_annotations,
        )
        desired.append(job)
    keep = frozenset({key}) if placement.canary is not None else frozenset()
    return desired, keep


def _acceptance_status(md: ModelDeployment, report: AcceptanceReport) -> AcceptanceStatus:
    figures: Json = {}
    if report.evaluation:
        ev = json.loads(report.evaluation)
        canary, stable = ev.get("canary") or {}, ev.get("stable") or {}
        figures = {
            "task": ev.get("task"),
            "rows": ev.get("rows"),
            "accuracy": canary.get("accuracy"),
            "stable_accuracy": stable.get("accuracy"),
            "mae": canary.get("mae"),
            "stable_mae": stable.get("mae"),
            "classes": tuple(
                AcceptanceClass(
                    label=c["label"],
                    support=c["support"],
                    accuracy=c["accuracy"],
                    stable_accuracy=c.get("stable"),
                )
                for c in ev.get("classes") or ()
            ),
        }
    return AcceptanceStatus.model_validate(
        {
            "version": report.version,
            "verdict": report.verdict,
            "message": report.message,
            "job": acceptance_job_name(md.name, report.attempt),
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            **figures,
        }
    )


def truth_status(
    md: ModelDeployment,
    status: ModelDeploymentStatus,
    report: AcceptanceReport | None,
    hooks: Sequence[HookAnswer],
) -> ModelDeploymentStatus:
    """``status`` with the acceptance report of this decision and the hooks' answers."""
    acceptance = md.status.acceptance if report is None else _acceptance_status(md, report)
    named = {w.name for w in md.spec.rollout.webhooks}
    answers = {w.name: w for w in md.status.webhooks if w.name in named}
    for a in hooks:
        answers[a.name] = WebhookStatus(
            name=a.name,
            type=a.type.value,
            passed=a.passed,
            code=a.code,
            message=a.message[:1000] or None,
            at=a.at,
        )
    webhooks = tuple(answers[w.name] for w in md.spec.rollout.webhooks if w.name in answers)
    return status.model_copy(update={"acceptance": acceptance, "webhooks": webhooks})
