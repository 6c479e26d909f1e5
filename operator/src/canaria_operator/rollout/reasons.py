"""Every reason a rollout decision can give, in one place.

Reasons are CamelCase machine-readable words (status condition ``reason``, Event ``reason``);
messages are one human sentence each, built by the functions below so that wording stays
consistent between status, Events and the CLI.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ABORTED",
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
    "PREVIOUS_SCALED_DOWN",
    "PROGRESS_DEADLINE_EXCEEDED",
    "PROMOTED",
    "REPLACED",
    "RESTORED_PREVIOUS",
    "RESUMED",
    "RETRYING",
    "ROLLOUT_STARTED",
    "SHADOW_PASSED",
    "SPEC_REVERTED",
    "STEP_ADVANCED",
    "STEP_PAUSE",
    "SUPERSEDED",
    "WAITING_FOR_ANALYSIS",
    "WAITING_FOR_CANARY",
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
