"""Every reason a rollout decision can give, in one place.

Reasons are CamelCase machine-readable words (status condition ``reason``, Event ``reason``);
messages are one human sentence each, built by the functions below so that wording stays
consistent between status, Events and the CLI.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ABORTED",
    "ACCEPTANCE_ERROR",
    "ACCEPTANCE_FAILED",
    "ACCEPTANCE_PASSED",
    "ACCEPTANCE_STARTED",
    "ACTION_IGNORED",
    "ANALYSIS_ERRORING",
    "ANALYSIS_FAILED",
    "ANALYSIS_INCONCLUSIVE",
    "CANARY_NOT_READY",
    "CANARY_SCALED_DOWN",
    "IDLE",
    "MANUAL_PAUSE",
    "MANUAL_PROMOTION",
    "NOT_JUDGED",
    "POST_ROLLOUT_FAILED",
    "PREVIOUS_SCALED_DOWN",
    "PRE_ROLLOUT_FAILED",
    "PRE_ROLLOUT_PASSED",
    "PROGRESS_DEADLINE_EXCEEDED",
    "PROMOTED",
    "PROMOTION_NOT_CONFIRMED",
    "REPLACED",
    "RESTORED_PREVIOUS",
    "RESUMED",
    "RETRYING",
    "ROLLBACK_REQUESTED",
    "ROLLOUT_STARTED",
    "SHADOW_PASSED",
    "SPEC_REVERTED",
    "STEP_ADVANCED",
    "STEP_PAUSE",
    "SUPERSEDED",
    "WAITING_FOR_ACCEPTANCE",
    "WAITING_FOR_ANALYSIS",
    "WAITING_FOR_CANARY",
    "WAITING_FOR_CONFIRMATION",
    "WAITING_FOR_HOOKS",
    "WAITING_FOR_LABELS",
]

IDLE: Final = "NoRollout"
ROLLOUT_STARTED: Final = "RolloutStarted"
WAITING_FOR_CANARY: Final = "WaitingForCanary"
WAITING_FOR_ANALYSIS: Final = "WaitingForAnalysis"
STEP_ADVANCED: Final = "StepAdvanced"
SHADOW_PASSED: Final = "ShadowPassed"
STEP_PAUSE: Final = "StepPause"
MANUAL_PAUSE: Final = "PausedByUser"
RESUMED: Final = "Resumed"
PROMOTED: Final = "Promoted"
MANUAL_PROMOTION: Final = "PromotedByUser"
REPLACED: Final = "ReplacedImmediately"
ANALYSIS_FAILED: Final = "AnalysisFailed"
ANALYSIS_ERRORING: Final = "AnalysisErroring"
ANALYSIS_INCONCLUSIVE: Final = "AnalysisInconclusive"
NOT_JUDGED: Final = "NotJudged"
PROGRESS_DEADLINE_EXCEEDED: Final = "ProgressDeadlineExceeded"
CANARY_NOT_READY: Final = "CanaryNotReady"
ABORTED: Final = "AbortedByUser"
RESTORED_PREVIOUS: Final = "RestoredPreviousStable"
SUPERSEDED: Final = "Superseded"
SPEC_REVERTED: Final = "SpecReverted"
RETRYING: Final = "Retrying"
ACTION_IGNORED: Final = "ActionIgnored"
CANARY_SCALED_DOWN: Final = "CanaryScaledDown"
PREVIOUS_SCALED_DOWN: Final = "PreviousStableScaledDown"
# Gates: the acceptance test, webhooks, truths that take time to arrive.
ACCEPTANCE_STARTED: Final = "AcceptanceStarted"
WAITING_FOR_ACCEPTANCE: Final = "WaitingForAcceptance"
ACCEPTANCE_PASSED: Final = "AcceptancePassed"
ACCEPTANCE_FAILED: Final = "AcceptanceFailed"
ACCEPTANCE_ERROR: Final = "AcceptanceError"
WAITING_FOR_HOOKS: Final = "WaitingForHooks"
PRE_ROLLOUT_PASSED: Final = "PreRolloutPassed"
PRE_ROLLOUT_FAILED: Final = "PreRolloutFailed"
WAITING_FOR_LABELS: Final = "WaitingForLabels"
WAITING_FOR_CONFIRMATION: Final = "WaitingForConfirmation"
PROMOTION_NOT_CONFIRMED: Final = "PromotionNotConfirmed"
ROLLBACK_REQUESTED: Final = "RollbackRequested"
POST_ROLLOUT_FAILED: Final = "PostRolloutFailed"
