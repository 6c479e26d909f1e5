"""The feedback metrics of one served model (names and labels from the contract).

A classifier exports labelled and correct rows; a regressor labelled rows and the sums of
|error| and error^2 (a series that cannot apply is not exported, so a check asking for it
sees no data rather than zeros)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from canaria_serving import contract as c
from canaria_serving.feedback.truth import Score

__all__ = ["FeedbackMetrics"]

_MODEL = [c.L_MODEL, c.L_VERSION, c.L_TRACK]


class FeedbackMetrics:
    def __init__(self, registry: CollectorRegistry, ids: tuple[str, str, str], task: str) -> None:
        def counter(name: str, text: str) -> Any:
            return Counter(name, text, _MODEL, registry=registry).labels(*ids)

        self.labelled = counter(c.M_FEEDBACK_LABELLED, "Rows whose truth arrived.")
        self.correct, self.abs_error, self.squared_error = None, None, None
        if task == "classification":
            self.correct = counter(c.M_FEEDBACK_CORRECT, "Labelled rows predicted right.")
        else:
            self.abs_error = counter(
                c.M_FEEDBACK_ABS_ERROR, "Sum of |truth - prediction| of labelled rows."
            )
            self.squared_error = counter(
                c.M_FEEDBACK_SQUARED_ERROR, "Sum of (truth - prediction)^2 of labelled rows."
            )
        unmatched = Counter(
            c.M_FEEDBACK_UNMATCHED,
            "Feedback items no pod could match, by reason (counted where the call arrived).",
            [*_MODEL, c.L_REASON],
            registry=registry,
        )
        dropped = Counter(
            c.M_FEEDBACK_DROPPED,
            "Predictions that left the store without their truth, by reason.",
            [*_MODEL, c.L_REASON],
            registry=registry,
        )
        self.unmatched = {r: unmatched.labels(*ids, r) for r in c.FEEDBACK_UNMATCHED_REASONS}
        self.dropped = {r: dropped.labels(*ids, r) for r in c.FEEDBACK_DROPPED_REASONS}
        self.stored = Gauge(
            c.M_FEEDBACK_STORED,
            "Predictions this pod keeps for their truth.",
            _MODEL,
            registry=registry,
            multiprocess_mode="livemax",
        ).labels(*ids)

    def scored(self, s: Score) -> None:
        self.labelled.inc(s.rows)
        if self.correct is not None:
            self.correct.inc(s.correct)
        if self.abs_error is not None and self.squared_error is not None:
            self.abs_error.inc(s.abs_error)
            self.squared_error.inc(s.squared_error)
