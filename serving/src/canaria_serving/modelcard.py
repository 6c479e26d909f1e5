"""The model card: what `canaria package` writes into an ONNX file and `canaria serve` reads.

Stored as JSON in the ONNX model's ``metadata_props`` under ``contract.ONNX_METADATA_KEY``.
A model without a card can still be served (the schema then comes from the graph alone and
no input-drift reference exists).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CARD_SCHEMA_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureReference(_Frozen):
    """Reference distribution of one input feature on the packaging sample.

    ``edges`` are bin edges (len = bins + 1, from the sample's quantiles, deduplicated);
    ``fractions`` the share of sample rows in each bin (len = bins, sums to 1). Values below
    the first edge count in the first bin, above the last edge in the last bin.
    """

    name: str
    edges: list[float]
    fractions: list[float]
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float] = Field(
        default_factory=dict, description="p01, p05, p25, p50, p75, p95, p99"
    )


class PredictionReference(_Frozen):
    """Prediction distribution on the packaging sample.

    Classifiers: ``class_fractions`` (class label as string -> share of rows).
    Regressors: ``edges``/``fractions`` like a feature.
    """

    class_fractions: dict[str, float] | None = None
    edges: list[float] | None = None
    fractions: list[float] | None = None


class InputSchema(_Frozen):
    name: str
    datatype: str  # V2 datatype, e.g. FP32
    shape: list[int]  # -1 = variable


class ModelCard(_Frozen):
    schema_version: int = CARD_SCHEMA_VERSION
    name: str
    version: str
    task: Literal["classification", "regression"]
    feature_names: list[str]
    classes: list[str] | None = None  # classifier labels, as strings, in output order
    inputs: list[InputSchema]
    outputs: list[InputSchema]
    # sha256 of the ONNX model serialized WITHOUT this card (content identity). The sha256 of
    # the file as shipped (what `canaria fetch` verifies) is printed by `canaria package` and
    # written to a `<file>.sha256` sidecar.
    content_sha256: str
    sklearn_estimator: str  # e.g. "Pipeline(StandardScaler, LogisticRegression)"
    parity: dict[str, float | int | str] = Field(default_factory=dict)
    features: list[FeatureReference] = Field(default_factory=list)
    predictions: PredictionReference = Field(default_factory=PredictionReference)
    sample_rows: int = 0
    created: str = ""  # RFC 3339

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.model_validate_json(text)
