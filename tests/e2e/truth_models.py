"""The models and data of the ground-truth scenarios, made by `canaria package`.

A three-class problem where the truth is known for every row the client sends: four
informative features and a fifth that says nothing about the class.

- v1: the first stable (random forest), about 95 % accurate on the held-out rows;
- good: another forest on the same labels (as accurate; agrees with v1 on ~99 % of rows);
- bad: a forest trained with the labels of the rows whose fifth feature is in its top 11 %
  moved one class on (0->1->2->0): healthy, fast, agrees with v1 on ~88 % of rows, and since
  that region holds every class alike its class shares stay the stable's (prediction drift
  sees nothing), but it is about 11 points less accurate, which only the truth shows.

The client draws rows from the held-out set (``x_test``/``y_test``); the acceptance dataset
is a CSV of 300 held-out rows with their label.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from canaria_serving.packaging import package_model

__all__ = ["FEATURES", "TruthData", "make_truth"]

FEATURES = ["f0", "f1", "f2", "f3", "f4"]


@dataclass(frozen=True)
class TruthData:
    files: dict[str, Path]  # "v1" | "good" | "bad" -> .onnx
    sha256: dict[str, str]
    dataset: Path  # acceptance CSV
    x_test: np.ndarray
    y_test: np.ndarray
    accuracy: dict[str, float]  # on x_test


def make_truth(folder: Path) -> TruthData:
    x, y = make_classification(
        n_samples=8000,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        class_sep=1.2,
        flip_y=0.0,
        shuffle=False,
        random_state=0,
    )  # fmt: skip  (unshuffled: the noise feature is the last column)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order]
    xtr, ytr, xte, yte = x[:6000], y[:6000], x[6000:], y[6000:]
    shifted = ytr.copy()
    region = xtr[:, 4] > np.quantile(xtr[:, 4], 0.89)
    shifted[region] = (shifted[region] + 1) % 3
    fits = {"v1": (0, ytr), "good": (1, ytr), "bad": (0, shifted)}
    files, sums, accuracy = {}, {}, {}
    for key, (seed, labels) in fits.items():
        est = RandomForestClassifier(n_estimators=30, max_depth=8, random_state=seed)
        est.fit(xtr, labels)
        packaged = package_model(
            est, xtr, name="truth", version=key, feature_names=FEATURES,
            created="2026-12-01T00:00:00Z",
        )  # fmt: skip
        path = folder / f"truth-{key}.onnx"
        path.write_bytes(packaged.onnx_bytes)
        files[key] = path
        sums[key] = hashlib.sha256(packaged.onnx_bytes).hexdigest()
        accuracy[key] = float((est.predict(xte) == yte).mean())
    dataset = folder / "acceptance.csv"
    with dataset.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*FEATURES, "label"])
        for row, label in zip(xte[:300].tolist(), yte[:300].tolist(), strict=True):
            w.writerow([*row, label])
    return TruthData(files, sums, dataset, xte, yte, accuracy)
