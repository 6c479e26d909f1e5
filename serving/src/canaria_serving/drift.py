"""Input drift: PSI per feature of a sliding window of recent rows against the card's bins.

The hot path only copies the request's rows into a ring buffer (one numpy slice assignment).
Binning and PSI run vectorized over the whole window when ``/metrics`` is scraped (or
periodically with several workers), never per request.
"""

from __future__ import annotations

import threading

import numpy as np

from canaria_serving.modelcard import FeatureReference

__all__ = ["DriftMonitor", "psi"]

_EPS = 1e-4  # floor for empty bins, so PSI stays finite


def psi(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Population stability index along the last axis: sum((a - e) * ln(a / e))."""
    e = np.clip(expected, _EPS, None)
    a = np.clip(actual, _EPS, None)
    result: np.ndarray = np.sum((a - e) * np.log(a / e), axis=-1)
    return result


class DriftMonitor:
    """Sliding window of the last ``window`` rows of the first ``len(references)`` features."""

    def __init__(self, references: list[FeatureReference], window: int, min_rows: int) -> None:
        self.n_features = len(references)
        n_bins = max(len(r.fractions) for r in references)
        # inner edges padded with +inf: bin index = number of inner edges <= value
        self._inner = np.full((self.n_features, max(n_bins - 1, 1)), np.inf)
        self._expected = np.zeros((self.n_features, n_bins))
        for i, ref in enumerate(references):
            inner = ref.edges[1:-1]
            self._inner[i, : len(inner)] = inner
            self._expected[i, : len(ref.fractions)] = ref.fractions
        self._n_bins = n_bins
        self._last_bin = np.array([len(r.fractions) - 1 for r in references])
        self._buffer = np.zeros((window, self.n_features), dtype=np.float64)
        self._window = window
        self._min_rows = min_rows
        self._pos = 0
        self._filled = 0
        self._lock = threading.Lock()  # add() may run in a worker thread for large requests

    def add(self, rows: np.ndarray) -> None:
        """Record the rows of one request (2-D, at least ``n_features`` columns)."""
        x = rows[:, : self.n_features]
        n = x.shape[0]
        with self._lock:
            if n >= self._window:
                self._buffer[:] = x[-self._window :]
                self._pos, self._filled = 0, self._window
                return
            end = self._pos + n
            if end <= self._window:
                self._buffer[self._pos : end] = x
            else:
                split = self._window - self._pos
                self._buffer[self._pos :] = x[:split]
                self._buffer[: n - split] = x[split:]
            self._pos = end % self._window
            self._filled = min(self._filled + n, self._window)

    def compute(self) -> np.ndarray | None:
        """PSI per feature over the current window; ``None`` until ``min_rows`` rows arrived."""
        with self._lock:
            if self._filled < self._min_rows:
                return None
            window = self._buffer[: self._filled].copy()
        # (rows, features, inner edges) -> bin index per (row, feature); +inf goes to the last
        # real bin of its feature, NaN (only when allowed) to the first
        bins = (window[:, :, None] >= self._inner[None, :, :]).sum(axis=2)
        bins = np.minimum(bins, self._last_bin[None, :])
        flat = bins + np.arange(self.n_features)[None, :] * self._n_bins
        counts = np.bincount(flat.ravel(), minlength=self.n_features * self._n_bins)
        actual = counts.reshape(self.n_features, self._n_bins) / window.shape[0]
        # padding bins (features with fewer bins) are 0 on both sides and add nothing
        return psi(self._expected, actual)
