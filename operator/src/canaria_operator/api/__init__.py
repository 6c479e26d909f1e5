"""The ModelDeployment API as pydantic models (mirrors crds/modeldeployment.yaml)."""

from canaria_operator.api.base import ApiModel, parse_duration
from canaria_operator.api.convert import to_analysis_config, to_rollout_spec
from canaria_operator.api.model import (
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    InvalidObject,
    ModelDeployment,
    ObjectMeta,
)
from canaria_operator.api.spec import ModelDeploymentSpec, ModelRef, Rollout, Serving
from canaria_operator.api.status import (
    MAX_HISTORY,
    AnalysisResult,
    Condition,
    HistoryEntry,
    ModelDeploymentStatus,
    StatusPhase,
    TrackStatus,
)

__all__ = [
    "GROUP",
    "KIND",
    "MAX_HISTORY",
    "PLURAL",
    "VERSION",
    "AnalysisResult",
    "ApiModel",
    "Condition",
    "HistoryEntry",
    "InvalidObject",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelRef",
    "ObjectMeta",
    "Rollout",
    "Serving",
    "StatusPhase",
    "TrackStatus",
    "parse_duration",
    "to_analysis_config",
    "to_rollout_spec",
]
