"""The one exception `canaria package` raises for a user's mistake (exit code 2, one line)."""

from __future__ import annotations

__all__ = ["PackagingError", "ParityError"]


class PackagingError(Exception):
    """A problem with the user's model or sample; the message names it."""


class ParityError(PackagingError):
    """scikit-learn and onnxruntime disagree on the sample; nothing is written."""
