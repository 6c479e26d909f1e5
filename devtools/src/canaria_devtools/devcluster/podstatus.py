"""What the runner knows about a pod's processes, as a Kubernetes pod status (pure code)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["ContainerState", "PodState", "now_rfc3339"]


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class ContainerState:
    """One container, the way a kubelet would report it."""

    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    pid: int | None = None
    ready: bool = False
    restart_count: int = 0
    last_terminated: dict[str, Any] | None = None

    def waiting(self, reason: str, message: str = "") -> None:
        self.state, self.reason, self.message, self.ready = "waiting", reason, message, False

    def running(self, pid: int) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.pid, self.started_at, self.ready = pid, now_rfc3339(), False

    def terminated(self, exit_code: int, message: str = "") -> None:
        self.state, self.exit_code, self.ready = "terminated", exit_code, False
        self.reason = "Completed" if exit_code == 0 else "Error"
        self.message = message
        self.finished_at = now_rfc3339()
        self.last_terminated = self._terminated_json()

    def _terminated_json(self) -> dict[str, Any]:
        terminated: dict[str, Any] = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": f"canaria-runner://{self.pid}",
        }
        if self.message:
            terminated["message"] = self.message
        return {"terminated": terminated}

    def to_json(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.state == "running",
            "lastState": {},
        }
        if self.pid is not None:
            status["containerID"] = f"canaria-runner://{self.pid}"
        if self.state == "running":
            status["state"] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            status["state"] = self._terminated_json()
        else:
            waiting: dict[str, Any] = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            status["state"] = {"waiting": waiting}
        if self.last_terminated is not None and self.state != "terminated":
            status["lastState"] = self.last_terminated
        return status


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    # None deletes a field in a strategic-merge patch: a True condition carries no reason.
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": None if ok else (reason or None),
        "message": None if ok else (message or None),
    }


@dataclass
class PodState:
    init: list[ContainerState]
    main: list[ContainerState]
    initialized: bool = False
    phase: str = "Pending"

    def containers_ready(self) -> bool:
        return all(c.ready for c in self.main)

    def status_patch(self, previous: dict[str, str]) -> dict[str, Any]:
        """A strategic-merge patch of the pod's status subresource.

        ``previous`` maps condition type -> "status|lastTransitionTime" and is updated, so that
        lastTransitionTime only moves when a condition flips.
        """
        unready = [c.name for c in self.main if not c.ready]
        msg = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
        init_msg = "" if self.initialized else "containers with incomplete status: [init]"
        conditions = [
            _condition("PodScheduled", True),
            _condition("Initialized", self.initialized, "ContainersNotInitialized", init_msg),
            _condition("ContainersReady", not unready, "ContainersNotReady", msg),
            _condition("Ready", not unready, "ContainersNotReady", msg),
        ]
        now = now_rfc3339()
        for cond in conditions:
            before = previous.get(cond["type"], "")
            if before.split("|")[0] == cond["status"]:
                cond["lastTransitionTime"] = before.split("|", 1)[1]
            else:
                cond["lastTransitionTime"] = now
                previous[cond["type"]] = f"{cond['status']}|{now}"
        return {
            "status": {
                "phase": self.phase,
                "conditions": conditions,
                "initContainerStatuses": [c.to_json() for c in self.init],
                "containerStatuses": [c.to_json() for c in self.main],
            }
        }
