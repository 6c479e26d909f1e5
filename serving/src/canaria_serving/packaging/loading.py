"""Reading the user's files: a pickled/joblib estimator and a sample of inputs.

Loading a pickle executes code from the file: only package models you trust.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from canaria_serving.packaging.errors import PackagingError

__all__ = [
    "Sample",
    "expected_features",
    "load_estimator",
    "load_sample",
    "read_sample",
    "read_table",
]

MODEL_SUFFIXES = (".pkl", ".pickle", ".joblib")
SAMPLE_SUFFIXES = (".csv", ".npy", ".parquet")


@dataclass(frozen=True)
class Sample:
    x: np.ndarray  # float32, 2-D (rows, features)
    feature_names: list[str]


def load_estimator(path: Path) -> Any:
    """Load an estimator; checks it looks like a fitted scikit-learn estimator."""
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise PackagingError(
            f"{path}: unknown model file type {path.suffix!r}; expected one of "
            + ", ".join(MODEL_SUFFIXES)
        )
    if not path.is_file():
        raise PackagingError(f"{path}: no such model file")
    try:
        if path.suffix.lower() == ".joblib":
            import joblib

            est = joblib.load(path)
        else:
            with path.open("rb") as f:
                est = pickle.load(f)
    except Exception as exc:  # any unpickling failure is the file's problem
        raise PackagingError(f"{path}: cannot read the model: {type(exc).__name__}: {exc}") from exc
    if not hasattr(est, "predict") or not hasattr(est, "fit"):
        raise PackagingError(
            f"{path}: holds a {type(est).__name__}, not a scikit-learn estimator (no fit/predict)"
        )
    return est


def expected_features(est: Any) -> tuple[int | None, list[str] | None]:
    """(number of input features, their names) as the fitted estimator records them."""
    names = getattr(est, "feature_names_in_", None)
    n = getattr(est, "n_features_in_", None)
    return (
        int(n) if n is not None else None,
        [str(v) for v in names] if names is not None else None,
    )


def read_table(path: Path) -> tuple[np.ndarray, list[str] | None]:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise PackagingError(f"{path}: cannot read the sample: {exc}") from exc
        return np.asarray(arr), None
    import pandas as pd

    try:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:
        raise PackagingError(f"{path}: cannot read the sample: {exc}") from exc
    bad = [str(c) for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise PackagingError(
            f"{path}: non-numeric column(s) {', '.join(bad)}; canaria package takes numeric "
            "features (encode categories as numbers, or put the encoder in the pipeline "
            "over numeric codes)"
        )
    return df.to_numpy(dtype=np.float64), [str(c) for c in df.columns]


def read_sample(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """(float64 rows, column names or None) of a .csv, .npy or .parquet sample."""
    if path.suffix.lower() not in SAMPLE_SUFFIXES:
        raise PackagingError(
            f"{path}: unknown sample file type {path.suffix!r}; expected one of "
            + ", ".join(SAMPLE_SUFFIXES)
        )
    if not path.is_file():
        raise PackagingError(f"{path}: no such sample file")
    return read_table(path)


def load_sample(path: Path, est: Any) -> Sample:
    """Read the sample and check it against what the estimator was fitted on."""
    data, columns = read_sample(path)
    n_expected, names_expected = expected_features(est)
    if names_expected is not None and columns is not None:
        missing = [n for n in names_expected if n not in columns]
        extra = [c for c in columns if c not in names_expected]
        if missing or extra:
            raise PackagingError(
                f"{path}: sample columns do not match the model: missing "
                f"{missing or 'none'}, unexpected {extra or 'none'}"
            )
        data = data[:, [columns.index(n) for n in names_expected]]
        columns = names_expected
    return make_sample(data, names_expected or columns, n_expected, str(path))


def make_sample(
    data: Any, names: list[str] | None, n_expected: int | None, what: str = "sample"
) -> Sample:
    try:
        x = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PackagingError(f"{what}: values must be numbers: {exc}") from exc
    if x.ndim != 2:
        raise PackagingError(f"{what}: expected a 2-D table (rows, features), got {x.ndim}-D")
    if x.shape[0] == 0:
        raise PackagingError(f"{what}: the sample is empty; parity and drift need rows")
    if n_expected is not None and x.shape[1] != n_expected:
        raise PackagingError(
            f"{what}: the model expects {n_expected} features, the sample has {x.shape[1]}"
        )
    if not np.isfinite(x).all():
        raise PackagingError(f"{what}: the sample holds NaN or infinite values")
    feature_names = names if names is not None else [f"f{i}" for i in range(x.shape[1])]
    return Sample(x.astype(np.float32), feature_names)
