"""API server errors, mapped in one place."""

from __future__ import annotations

from typing import Any

__all__ = ["KubeError"]


class KubeError(Exception):
    """A non-2xx answer of the API server (``Status`` object parsed), or status 0 when the
    server could not be reached."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @classmethod
    def from_status(cls, status: int, body: dict[str, Any] | None) -> KubeError:
        body = body or {}
        return cls(
            status,
            str(body.get("reason") or "Unknown"),
            str(body.get("message") or f"HTTP {status}"),
            body,
        )

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def permanent(self) -> bool:
        """The request itself is wrong (retrying the same request cannot succeed)."""
        return self.status in (400, 403, 422)

    @property
    def causes(self) -> list[dict[str, Any]]:
        details = self.body.get("details") or {}
        return list(details.get("causes") or [])
