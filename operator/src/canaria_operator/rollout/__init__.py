"""The rollout state machine (pure): what was seen + spec + analysis + now -> decision."""

from canaria_operator.rollout.decision import Decision, Event, HistoryRecord, HistoryResult
from canaria_operator.rollout.machine import analysis_due, decide, next_analysis_at
from canaria_operator.rollout.model import (
    ACTIVE_PHASES,
    ANALYSED_STAGES,
    CanaryPods,
    ManualAction,
    PauseCause,
    Phase,
    RolloutInput,
    RolloutSpec,
    RolloutState,
    Stage,
    Step,
    Strategy,
)

__all__ = [
    "ACTIVE_PHASES",
    "ANALYSED_STAGES",
    "CanaryPods",
    "Decision",
    "Event",
    "HistoryRecord",
    "HistoryResult",
    "ManualAction",
    "PauseCause",
    "Phase",
    "RolloutInput",
    "RolloutSpec",
    "RolloutState",
    "Stage",
    "Step",
    "Strategy",
    "analysis_due",
    "decide",
    "next_analysis_at",
]
