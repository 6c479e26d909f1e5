"""Read a track's health from its Deployment and pods (pure).

A problem is something that will not fix itself by waiting: a fetch init container that
failed (unreachable URI, wrong sha256, bad credentials), a container in CrashLoopBackOff, a
container the kernel killed over its memory limit (reason ``OOMKilled``, with the limit), a
missing Secret or ConfigMap, an image that cannot be pulled.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from canaria_operator.conditions import (
    R_CONTAINER_FAILING,
    R_MODEL_FETCH_FAILED,
    R_OOM_KILLED,
    Problem,
)
from canaria_operator.rollout.model import CanaryPods

__all__ = ["TrackHealth", "pod_problem", "track_health"]

Json = dict[str, Any]

_STUCK_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class TrackHealth:
    """What was observed of one version's pods."""

    desired: int
    ready: int
    reason: str | None = None  # why pods are not Ready, from pod statuses

    def as_canary_pods(self) -> CanaryPods:
        return CanaryPods(desired=self.desired, ready=self.ready, reason=self.reason)


def _terminated_failure(status: Json) -> Json | None:
    """The failed termination behind the current state (lastState only while waiting)."""
    state = status.get("state") or {}
    keys = ("state", "lastState") if "waiting" in state else ("state",)
    for key in keys:
        term = (status.get(key) or {}).get("terminated")
        if term and term.get("exitCode", 0) != 0:
            return dict(term)
    return None


def _describe(pod: str, container: str, status: Json) -> str | None:
    waiting = (status.get("state") or {}).get("waiting") or {}
    term = _terminated_failure(status)
    if term is not None:
        detail = (term.get("message") or term.get("reason") or "").strip()
        tail = detail.splitlines()[-1] if detail else f"exit code {term.get('exitCode')}"
        return f"pod {pod}: container {container} failed: {tail}"
    if waiting.get("reason") in _STUCK_WAITING:
        msg = waiting.get("message") or ""
        return f"pod {pod}: container {container} {waiting['reason']}: {msg}".rstrip(": ")
    return None


def _memory_limit(pod: Json, container: str) -> str:
    for spec in (pod.get("spec") or {}).get("containers") or []:
        if spec.get("name") == container:
            limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
            return f"its memory limit {limit}" if limit else "the memory it could have"
    return "its memory limit"


def pod_problem(pod: Json) -> Problem | None:
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    for cs in status.get("initContainerStatuses") or []:
        text = _describe(name, cs.get("name", "?"), cs)
        if text is not None:
            return Problem(R_MODEL_FETCH_FAILED, text)
    for cs in status.get("containerStatuses") or []:
        container = cs.get("name", "?")
        text = _describe(name, container, cs)
        if text is None:
            continue
        term = _terminated_failure(cs) or {}
        if term.get("reason") == "OOMKilled":
            return Problem(
                R_OOM_KILLED,
                f"pod {name}: container {container} was OOMKilled: it needs more than "
                f"{_memory_limit(pod, container)} (spec.serving.resources.limits.memory)",
            )
        return Problem(R_CONTAINER_FAILING, text)
    return None


def _pod_ready(pod: Json) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def track_health(
    deployment: Json | None, pods: Iterable[Json]
) -> tuple[TrackHealth, Problem | None]:
    """Desired and Ready pods of a track, and its first problem (if any)."""
    pods = list(pods)
    desired = int(((deployment or {}).get("spec") or {}).get("replicas") or 0)
    ready = sum(1 for p in pods if _pod_ready(p))
    problem = next((p for p in map(pod_problem, pods) if p is not None), None)
    reason = problem.message if problem else None
    if reason is None and ready < desired:
        reason = f"{ready}/{desired} pods Ready"
    return TrackHealth(desired=desired, ready=ready, reason=reason), problem
