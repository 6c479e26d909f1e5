"""The feedback metrics of one served model (names and labels from the contract)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from canaria_serving import contract as c
from canaria_serving.feedback.truth import Score

__all__ = ["FeedbackMetrics"]

_MODEL = [c.L_MODEL, c.L_VERSION, c.L_TRACK]


class FeedbackMetrics:
    def __init__(self, registry: CollectorRegistry, ids: tuple[str, str, str]) -> None:
        def counter(name: str, text: str) -> Counter:
            return Counter(name, text, _MODEL, registry=registry)

        self.labelled = counter(c.M_FEEDBACK_LABELLED, "Rows whose truth arrived.").labels(*ids)
        self.correct = counter(
            c.M_FEEDBACK_CORRECT, "Labelled rows predicted right (classifiers)."
        ).labels(*ids)
        self.abs_error = counter(
            c.M_FEEDBACK_ABS_ERROR, "Sum of |truth - prediction| of labelled rows (regressors)."
        ).labels(*ids)
        self.squared_error = counter(
            c.M_FEEDBACK_SQUARED_ERROR, "Sum of (truth - prediction)^2 (regressors)."
        ).labels(*ids)
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
        self.correct.inc(s.correct)
        self.abs_error.inc(s.abs_error)
        self.squared_error.inc(s.squared_error)
