"""What an evaluation found, and whether it passes thresholds (pure).

``canaria evaluate`` writes an :class:`Evaluation` (compact JSON: it must fit a pod's
4 KiB termination message, so at most ``MAX_CLASSES`` classes, figures rounded); the
operator reads it back from the acceptance Job and judges it with :func:`judge` against
``spec.rollout.acceptance``. Both use this module, so the file format has one definition.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MAX_CLASSES", "ClassFigures", "Evaluation", "ModelFigures", "Thresholds", "judge"]

MAX_CLASSES = 20
Task = Literal["classification", "regression"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ModelFigures(_Model):
    """One model's scores on the dataset. ``failed``: rows it did not answer (counted
    wrong for a classifier; any of them fails a regressor's acceptance)."""

    version: str | None = None
    rows: int = 0
    failed: int = 0
    accuracy: float | None = None  # classifiers
    mae: float | None = None  # regressors
    rmse: float | None = None


class ClassFigures(_Model):
    """One class of a classifier: rows labelled with it, and the share each model got right
    (recall)."""

    label: str
    support: int
    accuracy: float
    stable: float | None = None


class Evaluation(_Model):
    task: Task
    rows: int
    canary: ModelFigures
    stable: ModelFigures | None = None
    classes: tuple[ClassFigures, ...] = Field(default=(), max_length=MAX_CLASSES)


class Thresholds(_Model):
    min_accuracy: float | None = None
    max_drop_vs_stable: float | None = None
    max_error: float | None = None  # MAE


def judge(ev: Evaluation, t: Thresholds) -> tuple[bool, str]:
    """(passed, one sentence saying why)."""
    c, s = ev.canary, ev.stable
    if ev.task == "regression":
        if c.failed:
            return False, f"the canary did not answer {c.failed} of {ev.rows} rows"
        mae = c.mae if c.mae is not None else float("inf")
        vs = f" (stable {s.mae:.4g})" if s is not None and s.mae is not None else ""
        if t.max_error is not None and mae > t.max_error:
            return False, f"canary MAE {mae:.4g}{vs} above maxError {t.max_error:.4g}"
        return True, f"canary MAE {mae:.4g}{vs} on {ev.rows} rows"
    acc = c.accuracy or 0.0
    vs = f" (stable {s.accuracy:.2%})" if s is not None and s.accuracy is not None else ""
    if t.min_accuracy is not None and acc < t.min_accuracy:
        return False, f"canary accuracy {acc:.2%}{vs} below minAccuracy {t.min_accuracy:.2%}"
    if t.max_drop_vs_stable is not None:
        if s is None or s.accuracy is None:
            return False, "maxDropVsStable set but the stable was not evaluated"
        if s.accuracy - acc > t.max_drop_vs_stable:
            return False, (
                f"canary accuracy {acc:.2%} is {s.accuracy - acc:.2%} below the stable's "
                f"{s.accuracy:.2%} (maxDropVsStable {t.max_drop_vs_stable:.2%})"
            )
    return True, f"canary accuracy {acc:.2%}{vs} on {ev.rows} rows"
