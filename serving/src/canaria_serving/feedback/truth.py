"""Feedback bodies and scores (pure): what a truth may be, and how a prediction is judged.

A feedback call is ``{"feedback": [{"id": "...", "truth": T}, ...]}``. ``T`` is the truth of
the whole request: for a one-row request a class label (string or integer) for a classifier
or a finite number for a regressor; for a request of n rows, a list of n of those.
Anything else is refused before any prediction is looked at (400, naming the item).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "MAX_ITEMS",
    "MAX_ROWS",
    "FeedbackError",
    "Item",
    "Score",
    "encode_prediction",
    "parse_feedback",
    "score",
]

MAX_ITEMS = 1000  # feedback items per call
MAX_ROWS = 1024  # rows of one request kept for feedback (larger requests are not kept)
_MAX_ID = 128


class FeedbackError(ValueError):
    """A feedback body that cannot be taken (the message names the item and the problem)."""


@dataclass(frozen=True)
class Item:
    id: str
    truth: Any  # a label, a number, or a list of them (one per row)


@dataclass(frozen=True)
class Score:
    """One request's truth against its prediction."""

    rows: int
    correct: int = 0  # classifiers
    abs_error: float = 0.0  # regressors
    squared_error: float = 0.0


def _label(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _number(value: Any) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value)


def _check_truth(truth: Any, task: str, where: str) -> None:
    fits = _label if task == "classification" else _number
    kind = (
        "a class label (string or integer)"
        if task == "classification"
        else "a finite number (the model is a regressor)"
    )
    values = truth if isinstance(truth, list) else [truth]
    if not values:
        raise FeedbackError(f"{where}: truth is an empty list; expected {kind} per row")
    if len(values) > MAX_ROWS:
        raise FeedbackError(f"{where}: truth has {len(values)} rows (at most {MAX_ROWS})")
    for v in values:
        if not fits(v):
            raise FeedbackError(
                f"{where}: truth {orjson.dumps(v).decode()[:60]} has the wrong type; "
                f"expected {kind} or a list of them, one per row"
            )


def parse_feedback(body: bytes, task: str) -> list[Item]:
    """The items of a feedback call; :class:`FeedbackError` names the first problem."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FeedbackError(f"malformed JSON body: {exc}") from exc
    items = data.get("feedback") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise FeedbackError('expected a JSON object {"feedback": [{"id": ..., "truth": ...}]}')
    if not items:
        raise FeedbackError("feedback is an empty list")
    if len(items) > MAX_ITEMS:
        raise FeedbackError(f"{len(items)} feedback items in one call (at most {MAX_ITEMS})")
    out: list[Item] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        where = f"feedback[{i}]"
        if not isinstance(item, dict) or set(item) != {"id", "truth"}:
            raise FeedbackError(f'{where}: expected an object with exactly "id" and "truth"')
        rid = item["id"]
        if not isinstance(rid, str) or not 0 < len(rid) <= _MAX_ID:
            raise FeedbackError(f"{where}: id must be a non-empty string of at most {_MAX_ID}")
        where = f"{where} (id {rid!r})"
        if rid in seen:
            raise FeedbackError(f"{where}: the same id twice in one call")
        seen.add(rid)
        _check_truth(item["truth"], task, where)
        out.append(Item(rid, item["truth"]))
    return out


def encode_prediction(values: list[Any]) -> str:
    """A request's predictions (one per row) as stored: a JSON list."""
    return orjson.dumps(values).decode()


def score(prediction: str, truth: Any, task: str) -> Score | None:
    """The truth against a stored prediction; None when they do not fit (row counts)."""
    predicted: list[Any] = orjson.loads(prediction)
    truths = truth if isinstance(truth, list) else [truth]
    if len(truths) != len(predicted) or any(p is None for p in predicted):
        return None  # row counts differ, or the model answered NaN (stored as null)
    if task == "classification":
        right = sum(str(t) == str(p) for t, p in zip(truths, predicted, strict=True))
        return Score(rows=len(truths), correct=right)
    errors = [float(t) - float(p) for t, p in zip(truths, predicted, strict=True)]
    return Score(
        rows=len(errors),
        abs_error=sum(abs(e) for e in errors),
        squared_error=sum(e * e for e in errors),
    )
