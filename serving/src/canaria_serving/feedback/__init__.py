"""Ground-truth feedback: predictions kept by request id, truths matched to the version that
answered, per-version accuracy and error metrics; and payload-log replay for a canary."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from canaria_serving.feedback.hub import FeedbackHub
from canaria_serving.feedback.metrics import FeedbackMetrics
from canaria_serving.feedback.settings import FeedbackSettings

__all__ = ["FeedbackHub", "FeedbackSettings", "start_feedback"]


def start_feedback(
    rt: Any, registry: CollectorRegistry, ids: tuple[str, str, str], host: str, port: int
) -> FeedbackHub | None:
    """The running feedback hub of a served model, or None when feedback is off (no
    retention set) or the model has no prediction output to judge."""
    settings = FeedbackSettings()
    output = rt.value_output
    if not settings.enabled or output is None:
        return None
    hub = FeedbackHub(
        settings,
        task=rt.task,
        output=output,
        metrics=FeedbackMetrics(registry, ids, rt.task),
        host=host,
        port=port,
    )
    hub.start()
    return hub
