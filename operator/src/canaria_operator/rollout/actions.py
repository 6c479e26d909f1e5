"""What the operator must do after a decision (the state machine's output).

The operator applies the actions in order and then writes ``Decision.state`` to status once.
Every action is idempotent to apply (desired state, not a delta), so applying the same decision
twice (operator killed between applying and writing status) is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canaria_operator.rollout.model import RolloutState

__all__ = [
    "Action",
    "ClearActionAnnotation",
    "CreateCanary",
    "Decision",
    "EmitEvent",
    "PromoteCanary",
    "RecordHistory",
    "ReplaceStable",
    "RestorePrevious",
    "ScaleDown",
    "SetTraffic",
]


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SetTraffic(_Action):
    """Route ``canary_weight`` percent to the canary (stable gets the rest) and mirror
    ``mirror_percent`` percent of stable traffic to the canary (responses discarded)."""

    kind: Literal["SetTraffic"] = "SetTraffic"
    canary_weight: int = Field(ge=0, le=100)
    mirror_percent: int = Field(ge=0, le=100)


class CreateCanary(_Action):
    """Ensure the canary track (Deployment + Service) runs ``version``. ``full_size``: as many
    replicas as stable (BlueGreen); otherwise the operator may size it to the weight."""

    kind: Literal["CreateCanary"] = "CreateCanary"
    version: str
    full_size: bool = False


class PromoteCanary(_Action):
    """Swap roles: the canary Deployment becomes the stable track as it is (no second
    rollout), status stable := canary, canary := none, canary weight 0. The old stable stays
    running (warm) as the "previous" track until a ScaleDown(previous)."""

    kind: Literal["PromoteCanary"] = "PromoteCanary"
    version: str
    previous_version: str | None


class RestorePrevious(_Action):
    """Swap back to the still-warm previous stable (instant rollback after a promotion): the
    previous Deployment becomes stable again and the just-promoted one becomes the canary
    track with weight 0 (scaled down later)."""

    kind: Literal["RestorePrevious"] = "RestorePrevious"
    version: str
    demoted_version: str


class ReplaceStable(_Action):
    """Strategy Immediate: update the stable track in place to ``version``."""

    kind: Literal["ReplaceStable"] = "ReplaceStable"
    version: str


class ScaleDown(_Action):
    """Remove the pods of the canary track or of the warm previous stable."""

    kind: Literal["ScaleDown"] = "ScaleDown"
    track: Literal["canary", "previous"]
    version: str


class EmitEvent(_Action):
    kind: Literal["EmitEvent"] = "EmitEvent"
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


class RecordHistory(_Action):
    """Append an entry to the bounded rollout history in status."""

    kind: Literal["RecordHistory"] = "RecordHistory"
    version: str
    result: Literal["Promoted", "RolledBack", "Superseded"]
    reason: str
    started_at: datetime | None
    finished_at: datetime


class ClearActionAnnotation(_Action):
    """Remove the ``canaria.dev/action`` annotation (handled or rejected)."""

    kind: Literal["ClearActionAnnotation"] = "ClearActionAnnotation"
    action: str


Action = (
    SetTraffic
    | CreateCanary
    | PromoteCanary
    | RestorePrevious
    | ReplaceStable
    | ScaleDown
    | EmitEvent
    | RecordHistory
    | ClearActionAnnotation
)


class Decision(BaseModel):
    """The next state, the actions that get there, and when to look again."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: RolloutState
    actions: tuple[Action, ...] = ()
    # Call decide again after this long at the latest (None: nothing is scheduled).
    requeue_after: timedelta | None = None
    # True when an analysis round is due now: the operator runs the checks and calls decide
    # again with their results.
    analysis_due: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.actions)
