"""What a decision returns (the state machine's output): one representation, all consumed.

The state is the decision: which version holds which role, the weights, the stage. The
operator derives the objects it writes from ``Decision.state`` (level-based: the same state
always gives the same objects, so applying it twice is harmless). Besides the state a
decision carries only what the state cannot say: the Events to emit, the history entries to
append, whether the ``canaria.dev/action`` annotation was read (to remove it), and when to
look again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from canaria_operator.rollout.model import EventType, RolloutState

__all__ = ["AcceptanceReport", "Decision", "Event", "HistoryRecord", "HistoryResult"]

HistoryResult = Literal["Promoted", "RolledBack", "Superseded", "Replaced"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(_Frozen):
    """One Kubernetes Event about the ModelDeployment (``reason`` is CamelCase)."""

    type: EventType
    reason: str
    message: str


class HistoryRecord(_Frozen):
    """The end of one rollout, for the bounded history in status."""

    version: str
    result: HistoryResult
    reason: str
    started_at: datetime | None
    finished_at: datetime


class AcceptanceReport(_Frozen):
    """An acceptance test as status shows it: running, or judged (with the evaluation's
    figures as JSON, when it ran)."""

    version: str
    verdict: Literal["Running", "Passed", "Failed", "Error"]
    message: str
    attempt: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    evaluation: str | None = None


class Decision(_Frozen):
    """The next state, the Events and history entries of the transitions, and when to look
    again."""

    state: RolloutState
    events: tuple[Event, ...] = ()
    history: tuple[HistoryRecord, ...] = ()
    # The annotation canaria.dev/action was read (handled or refused): remove it.
    action_consumed: bool = False
    # Call decide again after this long at the latest (None: nothing is scheduled).
    requeue_after: timedelta | None = None
    # True when an analysis round is due now: the operator runs the checks and calls decide
    # again with their results.
    analysis_due: bool = False
    # The acceptance test started or judged by this decision (for status), else None.
    acceptance: AcceptanceReport | None = None
