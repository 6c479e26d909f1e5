"""Do the canary's and the stable's predictions agree? (pure)

Understands the three serving protocols' responses: V2 (``outputs[].data``), V1
(``predictions``) and ``/predict`` (``predictions`` or ``prediction``). For classifiers the label
output is compared exactly (an output named ``label``/``output_label``, or any integer/string
output); numeric outputs agree when ``isclose`` with ``rel_tol``/``abs_tol``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

__all__ = ["AGREE", "DISAGREE", "ERROR", "compare_bodies", "predictions_of"]

AGREE, DISAGREE, ERROR = "agree", "disagree", "error"
_LABEL_NAMES = ("label", "output_label", "labels", "predicted_label")


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for v in value:
            out.extend(_flatten(v))
        return out
    return [value]


def predictions_of(body: Any) -> list[Any] | None:
    """The comparable predictions of a response body, or None if it has none."""
    if not isinstance(body, dict):
        return None
    outputs = body.get("outputs")
    if isinstance(outputs, list) and outputs:
        labels = [o for o in outputs if isinstance(o, dict) and o.get("name") in _LABEL_NAMES]
        chosen = labels or [o for o in outputs if isinstance(o, dict)]
        return [_flatten(o.get("data")) for o in chosen]
    for key in ("predictions", "prediction"):
        if key in body:
            return [_flatten(body[key])]
    return None


def _same(a: Any, b: Any, rel_tol: float, abs_tol: float) -> bool:
    if (
        isinstance(a, bool)
        or isinstance(b, bool)
        or not (isinstance(a, int | float) and isinstance(b, int | float))
    ):
        return bool(a == b)
    return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)


def compare_bodies(
    stable: bytes, canary: bytes, rel_tol: float = 1e-3, abs_tol: float = 1e-6
) -> str:
    """``agree`` | ``disagree`` | ``error`` (a body without predictions is an error)."""
    try:
        a, b = predictions_of(orjson.loads(stable)), predictions_of(orjson.loads(canary))
    except orjson.JSONDecodeError:
        return ERROR
    if a is None or b is None:
        return ERROR
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b, strict=True)):
        return DISAGREE
    for xs, ys in zip(a, b, strict=True):
        for x, y in zip(xs, ys, strict=True):
            if not _same(x, y, rel_tol, abs_tol):
                return DISAGREE
    return AGREE
