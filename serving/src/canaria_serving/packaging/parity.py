"""Parity: scikit-learn and onnxruntime must agree on the sample before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from canaria_serving.packaging.errors import ParityError

__all__ = ["DEFAULT_PROBA_TOLERANCE", "DEFAULT_TOLERANCE", "Parity", "check_parity"]

# Regression: |onnx - sklearn| <= tolerance * max(1, max |sklearn|). ONNX computes in float32,
# so exact equality is impossible; 1e-4 of the output scale is far above float32 rounding
# (about 1e-7 per operation) and far below any real disagreement.
DEFAULT_TOLERANCE = 1e-4
DEFAULT_PROBA_TOLERANCE = 1e-3  # classifiers: class probabilities, absolute
_SHOW_ROWS = 5


@dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_diff: float  # regression outputs, or class probabilities
    allowed: float
    label_mismatches: int = 0

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "allowed": self.allowed,
            "label_mismatches": self.label_mismatches,
        }


def _rows(idx: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:_SHOW_ROWS])
    return shown + (" ..." if len(idx) > _SHOW_ROWS else "")


def _as_fitted(est: Any, x: np.ndarray) -> Any:
    """The sample the way the estimator was fitted: a DataFrame when it knows column names."""
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        return x
    import pandas as pd

    return pd.DataFrame(x, columns=list(names))


def _same_kind(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """ONNX labels in sklearn's label type (bool classes come back as 0/1, strings as str)."""
    return got.astype(expected.dtype) if expected.dtype.kind in "biuf" else got


def check_parity(
    est: Any,
    x: np.ndarray,
    outputs: dict[str, np.ndarray],
    *,
    classifier: bool,
    tolerance: float = DEFAULT_TOLERANCE,
    proba_tolerance: float = DEFAULT_PROBA_TOLERANCE,
) -> Parity:
    """Compare on the float32 sample both runtimes saw; raise ParityError on disagreement."""
    x64 = _as_fitted(est, x.astype(np.float64))
    if classifier:
        expected = np.asarray(est.predict(x64))
        got = _same_kind(np.asarray(outputs["label"]).ravel(), expected)
        bad = np.flatnonzero(expected.astype(str) != got.astype(str))
        diff = 0.0
        if hasattr(est, "predict_proba") and "probabilities" in outputs:
            diff = float(np.max(np.abs(est.predict_proba(x64) - outputs["probabilities"])))
        parity = Parity(len(x), diff, proba_tolerance, int(bad.size))
        if bad.size:
            raise ParityError(
                f"parity check failed: onnxruntime's label differs from scikit-learn's on "
                f"{bad.size} of {len(x)} sample rows ({bad.size / len(x):.2%}), rows "
                f"{_rows(bad)}; nothing written"
            )
        if diff > proba_tolerance:
            raise ParityError(
                f"parity check failed: class probabilities differ by up to {diff:.3g} "
                f"(allowed {proba_tolerance:g}); nothing written"
            )
        return parity
    expected = np.asarray(est.predict(x64), dtype=np.float64).ravel()
    got = np.asarray(outputs["variable"], dtype=np.float64).ravel()
    err = np.abs(expected - got)
    allowed = tolerance * max(1.0, float(np.max(np.abs(expected))))
    parity = Parity(len(x), float(err.max()), allowed)
    if parity.max_abs_diff > allowed:
        worst = np.flatnonzero(err > allowed)
        raise ParityError(
            f"parity check failed: regression outputs differ by up to "
            f"{parity.max_abs_diff:.6g} (allowed {allowed:.6g} = tolerance {tolerance:g} x "
            f"output scale) on {worst.size} of {len(x)} rows, rows {_rows(worst)}; "
            "nothing written"
        )
    return parity
