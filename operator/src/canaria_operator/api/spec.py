"""``spec`` of a ModelDeployment (mirrors crds/modeldeployment.yaml field by field)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from canaria_operator.analysis import bounds as B
from canaria_operator.api.base import ApiModel
from canaria_operator.rollout.model import DEFAULT_MAX_INCONCLUSIVE_ROUNDS

__all__ = [
    "Acceptance",
    "AccuracyCheck",
    "Analysis",
    "Autoscaling",
    "Batching",
    "BuiltinMetrics",
    "CustomCheck",
    "Dataset",
    "EnvVar",
    "ErrorCheck",
    "ErrorRateCheck",
    "Feedback",
    "HTTPRouteRef",
    "InputDriftCheck",
    "LatencyP99Check",
    "MaxPsiCheck",
    "ModelDeploymentSpec",
    "ModelRef",
    "PayloadLog",
    "Registry",
    "Replay",
    "ResourceList",
    "Resources",
    "Retire",
    "Rollout",
    "RolloutStep",
    "SecretRef",
    "Serving",
    "ShadowAgreementCheck",
    "Traffic",
    "Webhook",
]

StrategyName = Literal["Canary", "BlueGreen", "Shadow", "Immediate"]
RouterName = Literal["Builtin", "GatewayAPI", "Replicas"]
WebhookType = Literal["pre-rollout", "rollout", "confirm-promotion", "post-rollout", "rollback"]


class SecretRef(ApiModel):
    name: str


class Registry(ApiModel):
    tracking_uri: str
    credentials_secret_ref: SecretRef | None = None
    poll_interval: str = "1m"
    stable_alias: str = "canaria-stable"


class ModelRef(ApiModel):
    uri: str
    version: str | None = None
    sha256: str | None = None
    name: str | None = None
    credentials_secret_ref: SecretRef | None = None
    registry: Registry | None = None

    @property
    def from_registry(self) -> bool:
        return self.uri.startswith("models:/")

    @model_validator(mode="after")
    def _version_or_registry(self) -> ModelRef:
        """The CRD's rules, for objects stored before they were installed."""
        if self.from_registry:
            if self.registry is None or self.version is not None:
                raise ValueError("a models:/ uri needs registry and takes no version")
        elif self.version is None:
            raise ValueError("version is required unless uri is a models:/ reference")
        return self


class Retire(ApiModel):
    at: datetime
    deprecated_at: datetime | None = None
    reason: str | None = None


class Autoscaling(ApiModel):
    max_replicas: int
    min_replicas: int = 1
    target_cpu_utilization_percentage: int = Field(
        default=70, alias="targetCPUUtilizationPercentage"
    )


class ResourceList(ApiModel):
    cpu: str | None = None
    memory: str | None = None


class Requests(ResourceList):
    cpu: str | None = "100m"
    memory: str | None = "256Mi"


class Resources(ApiModel):
    requests: Requests = Field(default_factory=Requests)
    limits: ResourceList | None = None


class Batching(ApiModel):
    max_batch_size: int = 1
    max_delay_ms: float = 1.0


class PayloadLog(ApiModel):
    sample_rate: float = 0.0


class EnvVar(ApiModel):
    name: str
    value: str = ""


class Feedback(ApiModel):
    """Ground truth: how long and how many predictions each pod keeps by request id."""

    retention: str = "10m"
    max_predictions: int = 100_000


class Serving(ApiModel):
    replicas: int | None = None
    autoscaling: Autoscaling | None = None
    resources: Resources = Field(default_factory=Resources)
    workers: int = 1
    batching: Batching = Field(default_factory=Batching)
    payload_log: PayloadLog = Field(default_factory=PayloadLog)
    image: str | None = None
    env: tuple[EnvVar, ...] = ()
    feedback: Feedback | None = None

    @property
    def fixed_replicas(self) -> int:
        """Pods per track when not autoscaled (CRD: 1 when neither field is set)."""
        if self.autoscaling is not None:
            return self.autoscaling.min_replicas
        return 1 if self.replicas is None else self.replicas


class RolloutStep(ApiModel):
    weight: int
    pause: str | None = None
    pause_until_resumed: bool = False


class HTTPRouteRef(ApiModel):
    name: str
    namespace: str | None = None


class Traffic(ApiModel):
    router: RouterName = "Builtin"
    sticky_header: str | None = None
    mirror_percent: int = 100
    http_route_ref: HTTPRouteRef | None = None


class ErrorRateCheck(ApiModel):
    max: float = B.ERROR_RATE_MAX.field()
    confidence: float = B.ERROR_RATE_CONFIDENCE.field()


class LatencyP99Check(ApiModel):
    max_ms: float | None = B.LATENCY_MAX_MS.field()
    max_ratio: float | None = B.LATENCY_MAX_RATIO.field()


class MaxPsiCheck(ApiModel):
    max_psi: float = B.PREDICTION_DRIFT_MAX_PSI.field()


class InputDriftCheck(ApiModel):
    max_psi: float = B.INPUT_DRIFT_MAX_PSI.field()


class ShadowAgreementCheck(ApiModel):
    min: float = B.SHADOW_AGREEMENT_MIN.field()


class AccuracyCheck(ApiModel):
    max_drop: float = B.ACCURACY_MAX_DROP.field()
    confidence: float = B.ACCURACY_CONFIDENCE.field()
    min_labels: int = B.ACCURACY_MIN_LABELS.field()


class ErrorCheck(ApiModel):
    max_ratio: float = B.ERROR_MAX_RATIO.field()
    confidence: float = B.ERROR_CONFIDENCE.field()
    min_labels: int = B.ERROR_MIN_LABELS.field()


class BuiltinMetrics(ApiModel):
    error_rate: ErrorRateCheck | None = None
    latency_p99: LatencyP99Check | None = None
    prediction_drift: MaxPsiCheck | None = None
    shadow_agreement: ShadowAgreementCheck | None = None
    input_drift: InputDriftCheck | None = None
    accuracy: AccuracyCheck | None = None
    error: ErrorCheck | None = None


def _default_metrics() -> BuiltinMetrics:
    return BuiltinMetrics.model_validate(B.DEFAULT_METRICS)


class CustomCheck(ApiModel):
    name: str
    query: str
    min: float | None = None
    max: float | None = None


class Replay(ApiModel):
    rps: float = B.REPLAY_RPS.field()


class Analysis(ApiModel):
    prometheus_url: str | None = None
    min_requests: int = B.MIN_REQUESTS.field()
    metrics: BuiltinMetrics = Field(default_factory=_default_metrics)
    custom: tuple[CustomCheck, ...] = ()
    label_delay: str = "0s"
    replay: Replay | None = None


class Dataset(ApiModel):
    uri: str
    sha256: str | None = None
    format: Literal["CSV", "Parquet"] | None = None
    label_column: str = "label"
    features: tuple[str, ...] = ()
    max_rows: int | None = None
    credentials_secret_ref: SecretRef | None = None


class Acceptance(ApiModel):
    dataset: Dataset
    min_accuracy: float | None = Field(default=None, ge=0, le=1)
    max_drop_vs_stable: float | None = Field(default=None, ge=0, le=1)
    max_error: float | None = Field(default=None, ge=0)
    timeout: str = "5m"


class Webhook(ApiModel):
    name: str
    type: WebhookType
    url: str
    timeout: str = "10s"
    metadata: dict[str, str] = Field(default_factory=dict)


def _default_steps() -> tuple[RolloutStep, ...]:
    return (RolloutStep(weight=10), RolloutStep(weight=25), RolloutStep(weight=50))


class Rollout(ApiModel):
    strategy: StrategyName = "Canary"
    steps: tuple[RolloutStep, ...] = Field(default_factory=_default_steps)
    analysis_interval: str = "30s"
    failure_threshold: int = 2
    successful_checks_per_step: int = 1
    error_threshold: int = 3
    max_inconclusive_rounds: int = DEFAULT_MAX_INCONCLUSIVE_ROUNDS
    progress_deadline: str = "10m"
    scale_down_delay: str = "5m"
    traffic: Traffic = Field(default_factory=Traffic)
    analysis: Analysis = Field(default_factory=Analysis)
    acceptance: Acceptance | None = None
    webhooks: tuple[Webhook, ...] = ()


class ModelDeploymentSpec(ApiModel):
    model: ModelRef
    retire: Retire | None = None
    serving: Serving = Field(default_factory=Serving)
    rollout: Rollout = Field(default_factory=Rollout)
