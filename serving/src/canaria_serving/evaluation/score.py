"""Scores of answers against labels, accumulated batch by batch (pure)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from canaria_serving.evaluation.result import (
    MAX_CLASSES,
    ClassFigures,
    Evaluation,
    ModelFigures,
    Task,
)

__all__ = ["Tally", "evaluation", "normalise_label"]


def normalise_label(value: Any) -> str:
    """Labels compare as text; ``1``, ``1.0`` and ``"1"`` are one label."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


@dataclass
class Tally:
    """One model's answers so far."""

    task: Task
    version: str | None = None
    rows: int = 0
    failed: int = 0
    correct: int = 0
    abs_error: float = 0.0
    squared_error: float = 0.0
    right_by_class: Counter[str] = field(default_factory=Counter)

    def add(self, truths: list[Any], answers: list[Any] | None) -> None:
        """A batch: its labels, and the model's answers (None: the batch failed)."""
        self.rows += len(truths)
        if answers is None:
            self.failed += len(truths)
            return
        for truth, answer in zip(truths, answers, strict=True):
            if self.task == "classification":
                label = normalise_label(truth)
                if label == normalise_label(answer):
                    self.correct += 1
                    self.right_by_class[label] += 1
            else:
                error = float(truth) - float(answer)
                if not math.isfinite(error):
                    self.failed += 1
                    continue
                self.abs_error += abs(error)
                self.squared_error += error * error

    def figures(self) -> ModelFigures:
        answered = self.rows - self.failed
        if self.task == "classification":
            acc = self.correct / self.rows if self.rows else None
            return ModelFigures(
                version=self.version,
                rows=self.rows,
                failed=self.failed,
                accuracy=None if acc is None else round(acc, 6),
            )
        mae = self.abs_error / answered if answered else None
        rmse = math.sqrt(self.squared_error / answered) if answered else None
        return ModelFigures(
            version=self.version,
            rows=self.rows,
            failed=self.failed,
            mae=None if mae is None else round(mae, 6),
            rmse=None if rmse is None else round(rmse, 6),
        )


def evaluation(
    task: Task, support: Counter[str], canary: Tally, stable: Tally | None
) -> Evaluation:
    """The result: both models' figures and the largest classes' recall."""
    classes: list[ClassFigures] = []
    if task == "classification":
        for label, n in support.most_common(MAX_CLASSES):
            classes.append(
                ClassFigures(
                    label=label[:63],
                    support=n,
                    accuracy=round(canary.right_by_class[label] / n, 4),
                    stable=None if stable is None else round(stable.right_by_class[label] / n, 4),
                )
            )
    return Evaluation(
        task=task,
        rows=canary.rows,
        canary=canary.figures(),
        stable=None if stable is None else stable.figures(),
        classes=tuple(classes),
    )
