"""Input and output types of the rollout state machine (pure data, frozen).

These mirror the ``spec.rollout`` part of the ModelDeployment CRD; the operator maps its CRD
models onto them (``RolloutSpec``) and persists ``RolloutState`` in the object's status, so a
restarted operator resumes exactly where the previous one stopped. Field aliases are camelCase
(``model_dump(by_alias=True, mode="json")`` gives status-ready JSON).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "ACTIVE_PHASES",
    "ANALYSED_STAGES",
    "DEFAULT_MAX_INCONCLUSIVE_ROUNDS",
    "AcceptanceRead",
    "AcceptanceSpec",
    "CanaryPods",
    "EventType",
    "Gate",
    "HookAnswer",
    "HookType",
    "ManualAction",
    "PauseCause",
    "Phase",
    "RolloutInput",
    "RolloutSpec",
    "RolloutState",
    "Stage",
    "Step",
    "Strategy",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )


class Strategy(StrEnum):
    CANARY = "Canary"  # step through the weights, promote after the last step passes
    BLUE_GREEN = "BlueGreen"  # full-size canary, no traffic, analysis on mirrored traffic, 0->100
    SHADOW = "Shadow"  # shadow (mirror) phase first, then the canary steps
    IMMEDIATE = "Immediate"  # replace stable in place, no analysis


class Phase(StrEnum):
    IDLE = "Idle"  # no rollout has happened yet; stable only
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTED = "Promoted"  # last rollout promoted; stable only (old stable may still be warm)
    ROLLED_BACK = "RolledBack"  # last rollout rolled back (canary weight 0); waits for retry


class Stage(StrEnum):
    WAITING = "WaitingForCanary"  # canary pods not Ready yet: no traffic, no analysis
    SHADOW = "Shadow"  # weight 0, mirror_percent of stable traffic mirrored to canary
    PREVIEW = "Preview"  # BlueGreen: weight 0, mirrored traffic, full-size canary
    STEPS = "Steps"  # canary weight = steps[step_index].weight


ACTIVE_PHASES = frozenset({Phase.PROGRESSING, Phase.PAUSED})
# Stages in which the canary can be measured (if it receives traffic and checks are set).
ANALYSED_STAGES = frozenset({Stage.SHADOW, Stage.PREVIEW, Stage.STEPS})
DEFAULT_MAX_INCONCLUSIVE_ROUNDS = 20


class PauseCause(StrEnum):
    USER = "User"
    STEP = "Step"  # a step with pause_until_resumed
    ANALYSIS_ERROR = "AnalysisError"  # repeated Error verdicts: a human must look
    INCONCLUSIVE = "Inconclusive"  # maxInconclusiveRounds rounds without a verdict


class Gate(StrEnum):
    """Where a rollout waits for something other than its checks."""

    ACCEPTANCE = "Acceptance"  # the acceptance Job, before any client traffic
    PRE_ROLLOUT = "PreRollout"  # the pre-rollout hooks, before any client traffic
    CONFIRM = "ConfirmPromotion"  # the confirm-promotion hooks, before the promotion


class HookType(StrEnum):
    """``spec.rollout.webhooks[].type`` (Flagger's names)."""

    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"


class ManualAction(StrEnum):
    """Values of the annotation ``canaria.dev/action``."""

    PROMOTE = "promote"  # promote now, skipping remaining steps and analysis
    ABORT = "abort"  # roll back now (or back to the warm previous stable after a promotion)
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"  # restart a rolled-back rollout of the same version from the first step


class Step(_Frozen):
    """One canary step: route ``weight`` percent to the canary, then require the step's
    successful checks; optionally hold for ``pause`` (analysis keeps running and can still
    roll back) or until a human resumes (``pause_until_resumed``)."""

    weight: int = Field(ge=1, le=100)
    pause: timedelta | None = None
    pause_until_resumed: bool = False


class AcceptanceSpec(_Frozen):
    """``spec.rollout.acceptance``'s thresholds and deadline (the dataset is the Job's)."""

    min_accuracy: float | None = None
    max_drop_vs_stable: float | None = None
    max_error: float | None = None
    timeout: timedelta = timedelta(minutes=5)


def _default_steps() -> tuple[Step, ...]:
    return (Step(weight=10), Step(weight=25), Step(weight=50))


class RolloutSpec(_Frozen):
    """What the user asked for (``spec.rollout`` of the CRD)."""

    strategy: Strategy = Strategy.CANARY
    steps: tuple[Step, ...] = Field(default_factory=_default_steps)
    analysis_interval: timedelta = timedelta(seconds=30)
    # Consecutive Failed rounds that trigger a rollback.
    failure_threshold: int = Field(default=2, ge=1)
    # Successful rounds required at each step (and in the shadow/preview stage) to move on.
    successful_checks_per_step: int = Field(default=1, ge=1)
    # Consecutive Error rounds that pause the rollout (a broken check is not a verdict).
    error_threshold: int = Field(default=3, ge=1)
    # Canary not Ready (or crash-looping) this long after it was created -> rollback.
    progress_deadline: timedelta = timedelta(minutes=10)
    # How long the old stable (after promotion) or the canary (after rollback) stays warm.
    scale_down_delay: timedelta = timedelta(minutes=5)
    # Percent of stable traffic mirrored to the canary (Shadow and BlueGreen preview); 0 when
    # the traffic mode cannot mirror.
    mirror_percent: int = Field(default=100, ge=0, le=100)
    # Consecutive Inconclusive rounds (no verdict: too little traffic, no data, Prometheus
    # unreachable) that pause the rollout: missing data is no evidence either way.
    max_inconclusive_rounds: int = Field(default=DEFAULT_MAX_INCONCLUSIVE_ROUNDS, ge=1)
    # Stages that have checks to run (the operator knows which checks measure what the
    # canary receives in each stage). A stage without checks is passed on time alone: its
    # step pause, or one analysis interval, once the canary is Ready; status says so.
    judged_stages: frozenset[Stage] = ANALYSED_STAGES
    # An acceptance test before any client traffic (None: none).
    acceptance: AcceptanceSpec | None = None
    # The hook types spec.rollout.webhooks has (gates are skipped when they have none).
    hooks: frozenset[HookType] = frozenset()
    # How long truths take to arrive: the last stage before promotion lasts at least this.
    label_delay: timedelta = timedelta(0)
    # Payload-log records per second replayed to the canary while the rollout mirrors.
    replay_rps: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _check_steps(self) -> RolloutSpec:
        weights = [s.weight for s in self.steps]
        if any(b <= a for a, b in itertools.pairwise(weights)):
            raise ValueError(f"steps: weights must increase strictly, got {weights}")
        if self.strategy in (Strategy.CANARY, Strategy.SHADOW) and not self.steps:
            raise ValueError(f"steps: strategy {self.strategy} needs at least one step")
        if self.analysis_interval <= timedelta(0):
            raise ValueError("analysisInterval: must be positive")
        return self


class CanaryPods(_Frozen):
    """What the operator observed of the canary's pods."""

    desired: int = Field(ge=0)
    ready: int = Field(ge=0)
    # Why pods are not Ready, from the pod status (e.g. "CrashLoopBackOff: back-off 5m0s
    # restarting failed container serve", "Init:Error: canaria fetch: sha256 mismatch").
    reason: str | None = None


class RolloutState(_Frozen):
    """Everything the state machine remembers; persisted in status."""

    phase: Phase = Phase.IDLE
    stage: Stage | None = None
    stable_version: str | None = None
    canary_version: str | None = None
    # The old stable after a promotion, kept warm until previous_scale_down_at.
    previous_version: str | None = None
    canary_weight: int = Field(default=0, ge=0, le=100)
    mirror_percent: int = Field(default=0, ge=0, le=100)
    step_index: int = -1
    started_at: datetime | None = None
    step_started_at: datetime | None = None
    # First time the canary was seen without Ready pods (cleared once it is Ready again).
    canary_unready_since: datetime | None = None
    successes: int = 0  # successful rounds at the current step/stage
    consecutive_failures: int = 0
    consecutive_errors: int = 0
    consecutive_inconclusive: int = 0
    last_analysis_at: datetime | None = None
    paused_by: PauseCause | None = None
    canary_scale_down_at: datetime | None = None
    previous_scale_down_at: datetime | None = None
    reason: str = "NoRollout"
    message: str = "no rollout yet"
    # Gates (acceptance Job, pre-rollout and confirm-promotion hooks).
    gate: Gate | None = None
    gate_since: datetime | None = None
    gate_attempts: int = 0  # failed pre-rollout calls at this gate
    last_gate_call_at: datetime | None = None
    acceptance_attempt: str | None = None  # names the acceptance Job of this rollout
    post_rollout_pending: bool = False  # post-rollout hooks still to call
    replay_rps: float = 0.0  # what the router replays to the canary now


class HookAnswer(_Frozen):
    """One hook called at this reconcile, and its answer (2xx in time: passed)."""

    name: str
    type: HookType
    passed: bool
    at: datetime
    code: int | None = None
    message: str = ""


class AcceptanceRead(_Frozen):
    """The acceptance Job of ``attempt`` as observed: still running, or finished with the
    evaluation's JSON (its termination message), or failed with a reason."""

    attempt: str
    finished: bool = False
    result: str | None = None  # canaria evaluate's JSON (an Evaluation or {"error": ...})
    failure: str | None = None  # why the Job failed, when it did


class RolloutInput(_Frozen):
    """What the state machine is told about the world at this reconcile."""

    # The version spec.model asks for (the operator may use a digest of uri+sha256+version).
    target_version: str
    state: RolloutState = Field(default_factory=RolloutState)
    canary: CanaryPods | None = None
    action: ManualAction | None = None
    # Hooks called before this decision (gates, rollback requests, post-rollout).
    hooks: tuple[HookAnswer, ...] = ()
    acceptance: AcceptanceRead | None = None


EventType = Literal["Normal", "Warning"]
