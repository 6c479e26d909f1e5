"""Kubernetes Events derived from the difference between the old and the new status.

The reconciler writes status once and then emits one Event per transition: a condition whose
status or reason changed, and a phase change. The same status twice gives no Event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from canaria_operator.api.status import Condition, ModelDeploymentStatus
from canaria_operator.conditions import DEGRADED, PROGRESSING, READY

__all__ = ["EventSpec", "transition_events"]

EventType = Literal["Normal", "Warning"]


@dataclass(frozen=True)
class EventSpec:
    type: EventType
    reason: str
    message: str


def _is_bad(cond: Condition) -> bool:
    return (cond.type == DEGRADED and cond.status == "True") or (
        cond.type == READY and cond.status == "False"
    )


def transition_events(old: ModelDeploymentStatus, new: ModelDeploymentStatus) -> list[EventSpec]:
    events: list[EventSpec] = []
    for cond in new.conditions:
        before = old.condition(cond.type)
        if before is not None and (before.status, before.reason) == (cond.status, cond.reason):
            continue
        if before is None and cond.type in (DEGRADED, PROGRESSING) and cond.status == "False":
            continue  # nothing happened yet: no "not degraded" noise on creation
        kind: EventType = "Warning" if _is_bad(cond) else "Normal"
        events.append(EventSpec(kind, cond.reason, f"{cond.type}={cond.status}: {cond.message}"))
    if new.phase is not None and old.phase != new.phase:
        kind = "Warning" if new.phase in ("Degraded", "RolledBack") else "Normal"
        events.append(
            EventSpec(kind, f"Phase{new.phase}", f"phase {old.phase or '<none>'} -> {new.phase}")
        )
    return events
