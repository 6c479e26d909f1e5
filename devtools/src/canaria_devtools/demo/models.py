"""The demo's models, made by `canaria package` (its Python API) from scikit-learn.

- v1: StandardScaler + LogisticRegression (the first stable)
- v2: RandomForest: a good new version (same predictions on almost every row)
- v3: the same RandomForest trained on SHUFFLED labels: as fast, no errors, and wrong
  about two thirds of the time. HTTP health checks cannot see it; shadow agreement can.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DemoModel", "iris_rows", "make_demo_models"]

CREATED = "2026-11-23T00:00:00Z"  # pinned: the files are byte-for-byte reproducible


@dataclass(frozen=True)
class DemoModel:
    version: str
    path: Path
    sha256: str
    about: str


def iris_rows() -> object:
    """The iris measurements (float32 rows) the demo's clients send."""
    import numpy as np
    from sklearn.datasets import load_iris

    return np.asarray(load_iris().data, dtype=np.float32)


def make_demo_models(folder: Path) -> dict[str, DemoModel]:
    try:
        import numpy as np
        from sklearn.datasets import load_iris
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        from canaria_serving.packaging import package_model, write_packaged
    except ImportError as exc:  # the `package` extra is not installed
        raise RuntimeError(
            f"canaria demo makes its models with `canaria package`: {exc}. "
            "Install the extras: pip install 'canaria[package,demo]'"
        ) from exc
    iris = load_iris(as_frame=True)
    x = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    y = iris.target.to_numpy()
    shuffled = np.random.default_rng(5).permutation(y)
    plan = {
        "1": (
            Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))]),
            y,
            "logistic regression (first stable)",
        ),
        "2": (
            RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
            y,
            "random forest (good)",
        ),
        "3": (
            RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0),
            shuffled,
            "random forest on shuffled labels (fast, no errors, wrong)",
        ),
    }
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, DemoModel] = {}
    for version, (est, labels, about) in plan.items():
        est.fit(x, labels)
        packaged = package_model(est, x, name="iris", version=version, created=CREATED)
        path = folder / f"iris-v{version}.onnx"
        write_packaged(packaged, path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        out[version] = DemoModel(version, path, digest, about)
    return out
