"""Warm-up inputs that fit the model.

The model card's reference row (the median of each feature on the packaging sample) when
there is one; otherwise generated inputs: zeros, then ones (integer division, ``Resize`` with
``sizes`` and similar cannot run on zeros). Variable dims are 1, an input of any rank is 1-D.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from canaria_serving.modelcard import ModelCard
from canaria_serving.runtime.schema import TensorSpec

__all__ = ["card_row", "generated"]

Feeds = dict[str, np.ndarray]


def _shape(spec: TensorSpec) -> tuple[int, ...]:
    if spec.dims is None:
        return (1,)
    return tuple(d if isinstance(d, int) else 1 for d in spec.dims)


def _filled(spec: TensorSpec, one: bool) -> np.ndarray:
    shape = _shape(spec)
    if spec.datatype == "BYTES":
        return np.full(shape, "1" if one else "", dtype=object)
    return np.full(shape, 1 if one else 0, dtype=spec.dtype)


def generated(inputs: Sequence[TensorSpec]) -> list[tuple[str, Feeds]]:
    """Candidate feeds, in order: zeros, ones."""
    return [
        ("generated zeros", {s.name: _filled(s, False) for s in inputs}),
        ("generated ones", {s.name: _filled(s, True) for s in inputs}),
    ]


def card_row(card: ModelCard | None, spec: TensorSpec | None, n_features: int | None) -> Feeds:
    """One row of the card's per-feature medians for a [rows, features] input, else {}."""
    if card is None or spec is None or n_features is None or spec.dtype.kind not in "fiu":
        return {}
    refs = card.features
    if len(refs) != n_features:
        return {}
    row = [r.quantiles.get("p50", r.mean) for r in refs]
    return {spec.name: np.asarray([row], dtype=np.float64).astype(spec.dtype)}
