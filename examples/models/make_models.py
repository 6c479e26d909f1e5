"""Make the example models with `canaria package`'s Python API (deterministic).

    .venv/bin/python examples/models/make_models.py

- iris-v1.onnx: StandardScaler + LogisticRegression (the stable model)
- iris-v2.onnx: RandomForest (a good new version: same predictions on almost every row)
- iris-v5.onnx: RandomForest trained on SHUFFLED labels: fast, no errors, but predicts
  differently; only an ML-aware check (prediction drift, shadow agreement) catches it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from canaria_serving.packaging import package_model, write_packaged

HERE = Path(__file__).parent


def main() -> None:
    iris = load_iris(as_frame=True)
    x = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    y = iris.target.to_numpy()
    shuffled = np.random.default_rng(5).permutation(y)
    models = {
        "1": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]),
        "2": RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
        "5": RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
    }
    for version, est in models.items():
        est.fit(x, shuffled if version == "5" else y)
        packaged = package_model(
            est, x, name="iris", version=version, created="2026-11-23T00:00:00Z"
        )
        out = HERE / f"iris-v{version}.onnx"
        write_packaged(packaged, out)
        print(f"{out.name}: {packaged.card.sklearn_estimator} sha256 {packaged.sha256}")


if __name__ == "__main__":
    main()
