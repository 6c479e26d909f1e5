"""A labelled dataset for ``canaria evaluate``: CSV or Parquet, one label column.

Every other column is a feature, in file order (or the ones ``--features`` names, in that
order), sent as one FP32 row per record. Parquet needs ``pyarrow`` (in the image).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["Dataset", "DatasetError", "Format", "format_of", "load_dataset"]

Format = Literal["CSV", "Parquet"]


class DatasetError(ValueError):
    """A dataset that cannot be evaluated (the message names the problem)."""


@dataclass(frozen=True)
class Dataset:
    features: list[str]
    x: np.ndarray  # float32, rows x features
    labels: list[Any]

    @property
    def rows(self) -> int:
        return len(self.labels)


def format_of(path: str) -> Format:
    lower = path.lower().split("?", 1)[0]
    if lower.endswith((".parquet", ".pq")):
        return "Parquet"
    if lower.endswith((".csv", ".csv.txt", ".txt")):
        return "CSV"
    raise DatasetError(f"cannot tell the format of {path!r}: name it .csv or .parquet, or say it")


def _columns(path: Path, fmt: Format) -> dict[str, list[Any]]:
    if fmt == "Parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover - the image and [package] carry it
            raise DatasetError("reading Parquet needs pyarrow (pip install pyarrow)") from exc
        try:
            table: dict[str, list[Any]] = pq.read_table(path).to_pydict()
        except Exception as exc:
            raise DatasetError(f"{path}: not a readable Parquet file: {exc}") from exc
        return table
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                raise DatasetError(f"{path}: empty CSV (no header line)")
            cols: dict[str, list[Any]] = {h.strip(): [] for h in header}
            names = list(cols)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != len(names):
                    raise DatasetError(
                        f"{path}: line {line} has {len(row)} fields, the header {len(names)}"
                    )
                for name, value in zip(names, row, strict=True):
                    cols[name].append(value)
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read: {exc}") from exc
    return cols


def load_dataset(
    path: Path,
    label: str,
    fmt: Format | None = None,
    features: list[str] | None = None,
    max_rows: int | None = None,
) -> Dataset:
    cols = _columns(path, fmt or format_of(path.name))
    if label not in cols:
        raise DatasetError(f"{path}: no label column {label!r} (columns: {sorted(cols)})")
    names = features or [c for c in cols if c != label]
    missing = [n for n in names if n not in cols]
    if missing:
        raise DatasetError(f"{path}: no feature column(s) {missing} (columns: {sorted(cols)})")
    if not names:
        raise DatasetError(f"{path}: no feature columns besides the label {label!r}")
    labels = cols[label][:max_rows]
    if not labels:
        raise DatasetError(f"{path}: no rows")
    x = np.empty((len(labels), len(names)), np.float32)
    for j, name in enumerate(names):
        for i, value in enumerate(cols[name][: len(labels)]):
            try:
                x[i, j] = float(value)
            except (TypeError, ValueError):
                raise DatasetError(
                    f"{path}: row {i + 1}, column {name!r}: {value!r} is not a number"
                ) from None
    return Dataset(names, x, labels)
