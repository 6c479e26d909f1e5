"""Kubernetes Events derived from the difference between the old and the new status.

The reconciler writes status once and then emits one Event per transition: a condition whose
status or reason changed, and a phase change. The same status twice gives no Event.
"""

from __future__ import annotations

from canaria_operator.api.status import Condition, ModelDeploymentStatus
from canaria_operator.conditions import DEGRADED, PROGRESSING, READY
from canaria_operator.rollout.decision import Event
from canaria_operator.rollout.model import EventType

__all__ = ["Event", "transition_events"]


def _is_bad(cond: Condition) -> bool:
    return (cond.type == DEGRADED and cond.status == "True") or (
        cond.type == READY and cond.status == "False"
    )


def transition_events(old: ModelDeploymentStatus, new: ModelDeploymentStatus) -> list[Event]:
    events: list[Event] = []
    for cond in new.conditions:
        before = old.condition(cond.type)
        if before is not None and (before.status, before.reason) == (cond.status, cond.reason):
            continue
        if before is None and cond.type in (DEGRADED, PROGRESSING) and cond.status == "False":
            continue  # nothing happened yet: no "not degraded" noise on creation
        kind: EventType = "Warning" if _is_bad(cond) else "Normal"
        message = f"{cond.type}={cond.status}: {cond.message}"
        events.append(Event(type=kind, reason=cond.reason, message=message))
    if new.phase is not None and old.phase != new.phase:
        kind = "Warning" if new.phase in ("Degraded", "RolledBack") else "Normal"
        message = f"phase {old.phase or '<none>'} -> {new.phase}"
        events.append(Event(type=kind, reason=f"Phase{new.phase}", message=message))
    return events
