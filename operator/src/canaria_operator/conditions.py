"""Every status condition type and reason of a ModelDeployment, in one module.

Conditions follow the Kubernetes conventions: ``lastTransitionTime`` changes only when a
condition's ``status`` changes (reason and message may change without it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from canaria_operator.api.status import Condition, ConditionStatus, ConditionType

__all__ = [
    "DEGRADED",
    "PROGRESSING",
    "READY",
    "R_APPLY_FAILED",
    "R_AS_EXPECTED",
    "R_CANARY_NOT_READY",
    "R_CONTAINER_FAILING",
    "R_INVALID_SPEC",
    "R_MODEL_FETCH_FAILED",
    "R_NO_ROLLOUT",
    "R_OOM_KILLED",
    "R_ROLLED_BACK",
    "R_ROLLOUT_IN_PROGRESS",
    "R_ROLLOUT_PAUSED",
    "R_ROUTER_NOT_READY",
    "R_ROUTE_INVALID",
    "R_ROUTE_NOT_FOUND",
    "R_SECRET_NOT_FOUND",
    "R_STABLE_NOT_READY",
    "R_STABLE_READY",
    "R_STABLE_UPDATING",
    "Problem",
    "merge_conditions",
    "new_condition",
]

READY: Final = "Ready"
PROGRESSING: Final = "Progressing"
DEGRADED: Final = "Degraded"

# Ready
R_STABLE_READY: Final = "StableReady"
R_STABLE_NOT_READY: Final = "StableNotReady"
R_ROUTER_NOT_READY: Final = "RouterNotReady"  # the stable is, but no router pod answers yet
# Progressing
R_ROLLOUT_IN_PROGRESS: Final = "RolloutInProgress"
R_ROLLOUT_PAUSED: Final = "RolloutPaused"
R_STABLE_UPDATING: Final = "StableUpdating"
R_NO_ROLLOUT: Final = "NoRolloutInProgress"
R_ROLLED_BACK: Final = "RolledBack"
# Degraded
R_AS_EXPECTED: Final = "AsExpected"
R_SECRET_NOT_FOUND: Final = "SecretNotFound"
R_MODEL_FETCH_FAILED: Final = "ModelFetchFailed"
R_CONTAINER_FAILING: Final = "ContainerFailing"
R_OOM_KILLED: Final = "OOMKilled"  # a container went over its memory limit
R_CANARY_NOT_READY: Final = "CanaryNotReady"
R_APPLY_FAILED: Final = "ApplyFailed"
R_INVALID_SPEC: Final = "InvalidSpec"
R_ROUTE_NOT_FOUND: Final = "HTTPRouteNotFound"
R_ROUTE_INVALID: Final = "HTTPRouteInvalid"


@dataclass(frozen=True)
class Problem:
    """Something that needs attention: the Degraded condition's reason and one message."""

    reason: str
    message: str


def new_condition(
    type_: ConditionType,
    *,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None = None,
) -> Condition:
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message[:4000],
        last_transition_time=now,
        observed_generation=generation,
    )


def merge_conditions(old: Iterable[Condition], new: Iterable[Condition]) -> tuple[Condition, ...]:
    """New conditions, keeping each old ``lastTransitionTime`` whose status did not change."""
    previous = {c.type: c for c in old}
    merged = []
    for cond in new:
        before = previous.get(cond.type)
        if before is not None and before.status == cond.status:
            merged.append(
                cond.model_copy(update={"last_transition_time": before.last_transition_time})
            )
        else:
            merged.append(cond)
    order = {READY: 0, PROGRESSING: 1, DEGRADED: 2}
    return tuple(sorted(merged, key=lambda c: order.get(c.type, 9)))
