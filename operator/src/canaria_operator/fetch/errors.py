"""Why a fetch failed, with the exit code the init container ends with."""

from __future__ import annotations

__all__ = ["FetchError"]


class FetchError(Exception):
    """``code``: 3 digest mismatch, 4 unreachable after retries, 5 refused by the server
    (4xx), 6 bad source (unsupported URI, missing file)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
