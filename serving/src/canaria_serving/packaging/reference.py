"""Reference statistics of the packaging sample, for input and prediction drift.

Bins use the server's semantics (canaria_serving.drift): bin index = number of inner edges
<= value, so the first and last bins are open-ended.
"""

from __future__ import annotations

import numpy as np

from canaria_serving.modelcard import FeatureReference, PredictionReference

__all__ = ["DEFAULT_BINS", "feature_reference", "prediction_reference"]

DEFAULT_BINS = 10
_QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}


def _bins(values: np.ndarray, bins: int) -> tuple[list[float], list[float]]:
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:  # a constant column: one bin
        v = float(values[0])
        return [v, v], [1.0]
    inner = edges[1:-1]
    idx = np.searchsorted(inner, values, side="right")
    counts = np.bincount(idx, minlength=edges.size - 1).astype(np.float64)
    return [float(e) for e in edges], [float(c) for c in counts / counts.sum()]


def feature_reference(name: str, values: np.ndarray, bins: int = DEFAULT_BINS) -> FeatureReference:
    v = np.asarray(values, dtype=np.float64)
    edges, fractions = _bins(v, bins)
    return FeatureReference(
        name=name,
        edges=edges,
        fractions=fractions,
        mean=float(v.mean()),
        std=float(v.std()),
        min=float(v.min()),
        max=float(v.max()),
        quantiles={k: float(np.quantile(v, q)) for k, q in _QUANTILES.items()},
    )


def prediction_reference(
    predictions: np.ndarray, *, classifier: bool, bins: int = DEFAULT_BINS
) -> PredictionReference:
    if classifier:
        labels, counts = np.unique(np.asarray(predictions).astype(str), return_counts=True)
        total = float(counts.sum())
        return PredictionReference(
            class_fractions={str(k): float(c) / total for k, c in zip(labels, counts, strict=True)}
        )
    edges, fractions = _bins(np.asarray(predictions, dtype=np.float64).ravel(), bins)
    return PredictionReference(edges=edges, fractions=fractions)
