"""``status`` of a ModelDeployment (mirrors crds/modeldeployment.yaml field by field).

``rollout`` is the rollout state machine's persisted state
(:class:`canaria_operator.rollout.RolloutState`): the state machine owns it, the reconcile only
stores it and derives ``phase``, ``canary.weight`` and ``currentStep`` from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from canaria_operator.api.base import ApiModel
from canaria_operator.rollout.model import RolloutState

__all__ = [
    "MAX_HISTORY",
    "MAX_PINS",
    "MAX_WRITTEN",
    "AcceptanceClass",
    "AcceptanceStatus",
    "AnalysisResult",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "HistoryCheck",
    "HistoryEntry",
    "ModelDeploymentStatus",
    "RegistryPin",
    "RegistryStatus",
    "RetirementStatus",
    "StatusPhase",
    "TrackStatus",
    "WebhookStatus",
]

MAX_HISTORY = 10

StatusPhase = Literal[
    "Pending", "Ready", "Progressing", "Paused", "RolledBack", "Degraded", "Retired"
]
ConditionType = Literal["Ready", "Progressing", "Degraded"]
ConditionStatus = Literal["True", "False", "Unknown"]
VerdictName = Literal["Successful", "Failed", "Inconclusive", "Error"]
HistoryResult = Literal["Promoted", "RolledBack", "Superseded", "Replaced"]


class Condition(ApiModel):
    type: ConditionType
    status: ConditionStatus
    reason: str
    message: str
    last_transition_time: datetime
    observed_generation: int | None = None


class TrackStatus(ApiModel):
    """One track: which artifact it runs (the source of truth for rebuilding its pods once
    spec.model has moved on) and what was observed of it."""

    version: str
    uri: str
    sha256: str | None = None
    credentials_secret: str | None = None
    deployment: str | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    weight: int | None = None
    source: str | None = None


class AnalysisResult(ApiModel):
    metric: str
    verdict: VerdictName
    value: float | None = None
    stable_value: float | None = None
    threshold: float | None = None
    samples: int | None = None
    message: str | None = None
    at: datetime | None = None


class HistoryCheck(ApiModel):
    metric: str
    verdict: VerdictName
    value: float | None = None
    threshold: float | None = None


class HistoryEntry(ApiModel):
    version: str
    result: HistoryResult
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    source: str | None = None
    checks: tuple[HistoryCheck, ...] = ()


class RegistryPin(ApiModel):
    version: str
    digest: str


MAX_PINS = 20
MAX_WRITTEN = 20


class RegistryStatus(ApiModel):
    model: str | None = None
    alias: str | None = None
    version: str | None = None
    location: str | None = None
    digest: str | None = None
    resolved_at: datetime | None = None
    stable_alias: str | None = None
    stable_alias_version: str | None = None
    pins: tuple[RegistryPin, ...] = Field(default=(), max_length=MAX_PINS)
    written: tuple[str, ...] = Field(default=(), max_length=MAX_WRITTEN)


class RetirementStatus(ApiModel):
    deprecated_at: datetime | None = None
    at: datetime | None = None
    retired_at: datetime | None = None


class AcceptanceClass(ApiModel):
    label: str
    support: int
    accuracy: float
    stable_accuracy: float | None = None


class AcceptanceStatus(ApiModel):
    version: str
    verdict: Literal["Running", "Passed", "Failed", "Error"]
    message: str | None = None
    job: str | None = None
    task: Literal["classification", "regression"] | None = None
    rows: int | None = None
    accuracy: float | None = None
    stable_accuracy: float | None = None
    mae: float | None = None
    stable_mae: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    classes: tuple[AcceptanceClass, ...] = Field(default=(), max_length=20)


class WebhookStatus(ApiModel):
    name: str
    type: str
    passed: bool
    code: int | None = None
    message: str | None = None
    at: datetime | None = None


class ModelDeploymentStatus(ApiModel):
    observed_generation: int | None = None
    model_name: str | None = None
    phase: StatusPhase | None = None
    conditions: tuple[Condition, ...] = ()
    stable: TrackStatus | None = None
    canary: TrackStatus | None = None
    previous: TrackStatus | None = None
    current_step: int | None = None
    rollout: RolloutState | None = None
    analysis: tuple[AnalysisResult, ...] = ()
    history: tuple[HistoryEntry, ...] = Field(default=(), max_length=MAX_HISTORY)
    registry: RegistryStatus | None = None
    retirement: RetirementStatus | None = None
    acceptance: AcceptanceStatus | None = None
    webhooks: tuple[WebhookStatus, ...] = Field(default=(), max_length=10)

    def condition(self, type_: ConditionType) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)

    def to_json(self) -> dict[str, object]:
        """Status as the API server stores it (camelCase, no nulls, RFC 3339 times)."""
        data: dict[str, object] = self.model_dump(by_alias=True, mode="json", exclude_none=True)
        return data
