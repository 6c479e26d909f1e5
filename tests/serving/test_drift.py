"""The drift monitor: PSI against the reference bins over a sliding window (pure code)."""

from __future__ import annotations

import numpy as np
import pytest

from canaria_serving.drift import DriftMonitor, psi
from canaria_serving.modelcard import FeatureReference


def reference(values: np.ndarray, name: str, bins: int = 10) -> FeatureReference:
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
    counts, _ = np.histogram(values, bins=edges)
    return FeatureReference(
        name=name,
        edges=edges.tolist(),
        fractions=(counts / counts.sum()).tolist(),
        mean=0.0,
        std=1.0,
        min=float(values.min()),
        max=float(values.max()),
    )


def test_psi_matches_the_textbook_formula() -> None:
    e = np.array([0.25, 0.25, 0.5])
    a = np.array([0.5, 0.25, 0.25])
    want = (0.5 - 0.25) * np.log(0.5 / 0.25) + 0 + (0.25 - 0.5) * np.log(0.25 / 0.5)
    assert psi(e, a) == pytest.approx(want)
    assert psi(e, e) == 0


def test_window_psi_small_on_same_distribution_large_on_shift() -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(5000, 3))
    refs = [reference(train[:, i], f"f{i}") for i in range(3)]
    # feature 2 has fewer bins: padding must not distort it
    refs[2] = reference(train[:, 2], "f2", bins=4)
    mon = DriftMonitor(refs, window=1000, min_rows=100)
    assert mon.compute() is None  # not enough rows yet
    live = rng.normal(size=(1000, 3))
    for chunk in np.array_split(live, 37):  # many small requests, wrapping the ring
        mon.add(chunk)
    values = mon.compute()
    assert values is not None
    assert np.all(values < 0.05), values
    shifted = rng.normal(size=(1000, 3))
    shifted[:, 1] += 3.0
    mon.add(shifted)  # replaces the whole window
    values = mon.compute()
    assert values is not None
    assert values[1] > 2.0
    assert values[0] < 0.05
    assert values[2] < 0.05


def test_window_slides() -> None:
    rng = np.random.default_rng(1)
    refs = [reference(rng.normal(size=2000), "f0")]
    mon = DriftMonitor(refs, window=200, min_rows=10)
    mon.add(rng.normal(size=(200, 1)) + 5)  # drifted
    high = mon.compute()
    for _ in range(20):  # 200 in-distribution rows push the drifted ones out
        mon.add(rng.normal(size=(10, 1)))
    low = mon.compute()
    assert high is not None
    assert low is not None
    assert high[0] > 2.0 > 0.2 > low[0]
