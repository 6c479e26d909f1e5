"""Settings of ground-truth feedback (environment ``CANARIA_FEEDBACK_*``, as pods get them).

Feedback is on when a retention is set (the operator sets it from ``spec.serving.feedback``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["FeedbackSettings"]


class FeedbackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CANARIA_FEEDBACK_", extra="ignore", frozen=True)

    # How long a prediction waits for its truth (seconds); None: feedback is off.
    retention_s: float | None = Field(default=None, gt=0)
    # Most predictions kept (the oldest are evicted first).
    max_predictions: int = Field(default=100_000, ge=1, le=10_000_000)
    # DNS name listing every serving pod of the model (a headless Service); None: this pod
    # alone answers feedback.
    peers: str | None = None
    # The pod's SQLite file (in its writable /tmp, shared by its workers).
    db: Path = Path("/tmp/canaria-feedback/predictions.db")
    # How long the fan-out waits for each pod (seconds).
    peer_timeout_s: float = Field(default=3.0, gt=0)

    @property
    def enabled(self) -> bool:
        return self.retention_s is not None
